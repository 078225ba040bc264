"""The console's settings: ``AZAION_CONSOLE__*``. It reads the data root (``AZAION_ROOT``) and asks the
api and each service's ``/metrics``; it holds no credentials of its own (users log in with theirs)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from azaion_shared.settings import AzaionSettings, WordMap


class ConsoleOptions(BaseModel):
    host: str = Field("127.0.0.1", description="Address the console listens on (loopback: reach it through SSH).")
    port: int = Field(8090, ge=1, le=65535, description="Port the console listens on.")
    api_url: str = Field("http://localhost:8000", description="The api service (logins, releases, devices).")
    api_ca_bundle: Path | None = Field(None, description="PEM file of the CA that signed the api's certificate.")
    api_allow_insecure_http: bool = Field(
        False, description="Allow a plain http:// api_url to a host other than loopback (a trusted network only)."
    )
    metrics: WordMap = Field(
        default_factory=lambda: {
            "ingestor": "http://ingestor:8081/metrics",
            "augmentor": "http://augmentor:8082/metrics",
        },
        description="Each service's /metrics: `name=URL,name=URL` (or a JSON map). Every address a name "
        "resolves to is read: each augmentor replica of `docker compose --scale` counts.",
    )
    models_dir: Path | None = Field(
        None,
        description="The trainer's models folder; default {root}/models. Compose mounts the models volume "
        "at /models, apart from the read-only data root.",
    )
    refresh_seconds: float = Field(10.0, gt=0, description="How often the overview refreshes itself.")
    session_minutes: int = Field(480, ge=1, description="How long a login lasts.")
    session_secret: SecretStr | None = Field(
        None, description="Signs the session cookie; empty: a new one at each start (everyone logs in again)."
    )
    secure_cookie: bool = Field(False, description="Send the session cookie over HTTPS only (behind a TLS proxy).")
    page_size: int = Field(24, ge=1, le=200, description="Images per page of the data browser.")
    timeout: float = Field(3.0, gt=0, description="Seconds to wait for the api or a service's metrics.")


class ConsoleSettings(AzaionSettings):
    console: ConsoleOptions = Field(default_factory=ConsoleOptions)
