"""The api service's settings (``AZAION_API__*`` and the common ``AZAION_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator

from azaion_shared.cdn import CdnSettings
from azaion_shared.errors import ConfigError
from azaion_shared.settings import AzaionSettings, WordList, is_placeholder

MIN_SECRET_LENGTH = 32
#: A random 32-character secret has about 25 distinct characters; "aaaa…" or "abab…" have 1 or 2.
MIN_DISTINCT_CHARACTERS = 10


class ApiOptions(BaseModel):
    host: str = Field("0.0.0.0", description="Address to listen on.")
    port: int = Field(8000, description="Port to listen on.")
    jwt_secret: SecretStr | None = Field(
        None, description=f"HS256 signing secret, at least {MIN_SECRET_LENGTH} characters (required to serve)."
    )
    token_minutes: int = Field(30, ge=1, le=24 * 60, description="Token lifetime in minutes.")
    db_path: Path | None = Field(None, description="SQLite file of users; default {root}/api/users.sqlite3.")
    resources_dir: Path | None = Field(None, description="Where resources are stored; default {root}/api/resources.")
    max_upload_mb: int = Field(64, ge=1, description="Largest accepted upload in MiB.")
    login_failures_per_account: int = Field(
        5, ge=1, description="Failed logins of one account within the window before it gets 429."
    )
    login_failures_per_address: int = Field(
        20, ge=1, description="Failed logins from one client address within the window before it gets 429."
    )
    login_window_seconds: float = Field(300.0, gt=0, description="The sliding window of the login limits.")
    concurrent_logins: int = Field(
        4, ge=1, description="Password hashes at once (64 MiB each); beyond it a login gets 503 with Retry-After."
    )
    trusted_proxies: WordList = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For names the client (comma-separated, or "
        "a JSON list); from any other peer the header is ignored.",
    )
    tls_cert: Path | None = Field(
        None, description="PEM certificate to serve HTTPS with (with tls_key); `python -m azaion_shared tls` makes one."
    )
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")
    link_seconds: int = Field(
        300, ge=10, le=7 * 24 * 3600, description="How long a presigned big-part URL handed to a device is valid."
    )
    online_key: Path | None = Field(
        None,
        description="The api's online key (Ed25519 PEM) that signs the fleet's snapshot and timestamp; default "
        "{root}/api/keys/online.key, made on first use (`python -m api trust online-key`).",
    )
    tuf_expiry_hours: float = Field(
        24.0,
        gt=0,
        le=24 * 365,
        description="How long a signed snapshot and timestamp stay valid; re-signed when half is left. A device "
        "that cannot confirm its metadata fresh within this long reports itself stale (a freeze).",
    )
    docs: bool | None = Field(
        None, description="Serve /docs, /redoc and /openapi.json; default: off in production, on otherwise."
    )

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        if is_placeholder(value.get_secret_value()):
            raise ValueError("is a placeholder; set a real secret")
        secret = value.get_secret_value()
        generate = "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters; {generate}")
        if len(set(secret)) < MIN_DISTINCT_CHARACTERS:
            raise ValueError(
                f"is too weak: only {len(set(secret))} distinct characters (a repeated pattern); {generate}"
            )
        return value


class ApiSettings(AzaionSettings):
    api: ApiOptions = Field(default_factory=ApiOptions)
    cdn: CdnSettings = Field(
        default_factory=CdnSettings,
        description="Where big parts are (AZAION_CDN__*): read access is enough; devices get presigned links.",
    )

    def jwt_secret(self) -> str:
        if self.api.jwt_secret is None:
            raise ConfigError(
                f"AZAION_API__JWT_SECRET is not set: the api service needs a signing secret of at least "
                f"{MIN_SECRET_LENGTH} characters"
            )
        return self.api.jwt_secret.get_secret_value()

    def tls_files(self) -> tuple[str, str] | None:
        """(certificate, key) to serve HTTPS with, checked; None for plain HTTP."""
        cert, key = self.api.tls_cert, self.api.tls_key
        if cert is None and key is None:
            return None
        if cert is None or key is None:
            raise ConfigError("set both AZAION_API__TLS_CERT and AZAION_API__TLS_KEY to serve HTTPS, or neither")
        for variable, path in (("AZAION_API__TLS_CERT", cert), ("AZAION_API__TLS_KEY", key)):
            if not path.is_file():
                raise ConfigError(
                    f"{variable}={path} does not exist or is not readable here; make the site's certificates "
                    "with `python -m azaion_shared tls --out certs`"
                )
        return str(cert), str(key)

    def docs_enabled(self) -> bool:
        return self.api.docs if self.api.docs is not None else self.env != "production"

    def db_file(self) -> Path:
        return self.api.db_path or self.root / "api" / "users.sqlite3"

    def trust_store(self):
        from api.trust import TrustStore

        folder = self.resources_folder().parent
        return TrustStore(
            folder / "tuf", self.api.online_key or folder / "keys" / "online.key", self.api.tuf_expiry_hours
        )

    def resources_folder(self) -> Path:
        return self.api.resources_dir or self.root / "api" / "resources"
