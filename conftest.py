"""Fixtures for every test folder: real servers on loopback (uvicorn, moto's S3), nothing mocked."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TEST_JWT_SECRET = "test-secret-for-the-suite-only-0123456789abcdef"


def pytest_configure(config) -> None:
    """No command the suite runs reads a ``.env`` (a deployment's, made beside the code by following
    docs/guides/training-server.md, would leak its secrets and broker into every test). Tests that
    strip the AZAION_ variables from a child's environment keep this one; the test of ``.env`` itself drops it."""
    import os

    os.environ["AZAION_ENV_FILE"] = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class UvicornThread:
    """A real uvicorn server in a thread, on a free loopback port."""

    def __init__(self, app, ssl_certfile: str | None = None, ssl_keyfile: str | None = None):
        import uvicorn

        self.port = free_port()
        self.url = f"{'https' if ssl_certfile else 'http'}://127.0.0.1:{self.port}"
        # As `python -m api serve` runs it: the app, not uvicorn, decides whose X-Forwarded-For to believe.
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            proxy_headers=False,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class ApiServer:
    url: str
    app: object
    root: Path
    users: object

    @property
    def trust(self):
        """The api's TUF repository (api.trust.TrustStore): tests install roots there, as `api trust root` does."""
        return self.app.state.services.trust

    def add_user(self, email: str, password: str, role: str):
        from azaion_shared.roles import Role

        return self.users.add(email, password, Role.parse(role))


@pytest.fixture
def api_server(tmp_path, monkeypatch) -> Iterator[ApiServer]:
    """The api service from `services/api`, served by uvicorn on loopback, with its own database."""
    from api.app import create_app
    from api.settings import ApiSettings

    monkeypatch.setenv("AZAION_ENV", "test")
    monkeypatch.setenv("AZAION_ROOT", str(tmp_path / "api-root"))
    monkeypatch.setenv("AZAION_API__JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("AZAION_API__MAX_UPLOAD_MB", "2")
    monkeypatch.setenv("AZAION_CDN__LOCAL_DIR", str(tmp_path / "cdn"))
    settings = ApiSettings()
    app = create_app(settings)
    with UvicornThread(app) as server:
        yield ApiServer(server.url, app, tmp_path / "api-root", app.state.users)


@dataclass
class S3Server:
    url: str

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.url, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
        )

    def storage(self, bucket: str, **kwargs):
        from azaion_shared.cdn import S3Storage

        storage = S3Storage(bucket, endpoint_url=self.url, access_key="test", secret_key="test", **kwargs)
        storage.ensure_bucket()
        return storage


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's standalone server: a real HTTP S3 endpoint on loopback."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A yolo11n trained in this session on ultralytics' sample photographs (see tests/support/tiny_model.py)."""
    from tiny_model import TinyModel

    return TinyModel(tmp_path_factory.mktemp("tiny-model")).train()
