"""TLS end to end: the real api over HTTPS and S3 behind TLS, with certificates from `python -m azaion_shared tls`;
clients that verify them against the site CA, and refuse clear text to other hosts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tls_proxy import TlsProxy

from azaion_shared.api_client import ApiClientSettings
from azaion_shared.cdn import CdnSettings, storage_from_settings
from azaion_shared.errors import ApiError, ConfigError, StorageError
from conftest import TEST_JWT_SECRET, UvicornThread

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("certs")
    done = subprocess.run(
        [sys.executable, "-m", "azaion_shared", "tls", "--out", str(folder)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (folder / "api.key").stat().st_mode & 0o777 == 0o600 and (folder / "ca.key").stat().st_mode & 0o777 == 0o600
    return folder


@pytest.fixture
def https_api(tmp_path, monkeypatch, certs):
    from api.app import create_app
    from api.settings import ApiSettings
    from azaion_shared.roles import Role
    from azaion_shared.settings import load_settings

    monkeypatch.setenv("AZAION_ENV", "test")
    monkeypatch.setenv("AZAION_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("AZAION_API__JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("AZAION_API__TLS_CERT", str(certs / "api.crt"))
    monkeypatch.setenv("AZAION_API__TLS_KEY", str(certs / "api.key"))
    settings = load_settings(ApiSettings)
    app = create_app(settings)
    app.state.users.add("edge@x.io", PASSWORD, Role.RESOURCE_UPLOADER)
    cert, key = settings.tls_files()
    with UvicornThread(app, ssl_certfile=cert, ssl_keyfile=key) as server:
        yield server


def client_settings(url: str, **extra) -> ApiClientSettings:
    return ApiClientSettings(url=url, email="edge@x.io", password=PASSWORD, attempts=1, timeout=5, **extra)


def test_the_api_over_https_verified_against_the_site_ca(https_api, certs):
    assert https_api.url.startswith("https://")
    with client_settings(https_api.url, ca_bundle=certs / "ca.crt").client() as api:
        api.upload("azaion.onnx.small", b"\x05" * 3072)
        assert api.download("azaion.onnx.small") == b"\x05" * 3072
    with client_settings(https_api.url).client() as api, pytest.raises(ApiError, match="CERTIFICATE_VERIFY_FAILED"):
        api.download("azaion.onnx.small")  # the system's CAs do not know the site CA
    plain = https_api.url.replace("https://", "http://")
    with client_settings(plain).client() as api, pytest.raises(ApiError):
        api.download("azaion.onnx.small")  # clear text to a TLS server gets nothing


def test_the_healthcheck_of_a_tls_container(https_api, certs):
    port = https_api.url.rsplit(":", 1)[1]
    env = os.environ | {"AZAION_API__TLS_CERT": str(certs / "api.crt")}
    done = subprocess.run(
        [sys.executable, "-m", "azaion_shared.healthcheck", f"http://127.0.0.1:{port}/healthz"], env=env
    )
    assert done.returncode == 0


def test_clear_text_to_another_host_is_refused_unless_allowed(certs, tmp_path):
    with pytest.raises(ConfigError, match=r"AZAION_API_CLIENT__URL=http://10\.0\.0\.5:8000 is plain HTTP"):
        client_settings("http://10.0.0.5:8000").client()
    client_settings("http://10.0.0.5:8000", allow_insecure_http=True).client().close()  # said explicitly
    client_settings("http://localhost:8000").client().close()  # loopback stays allowed
    cdn = CdnSettings(bucket="b", endpoint_url="http://minio:9000", access_key="k", secret_key="s")
    with pytest.raises(ConfigError, match=r"AZAION_CDN__ENDPOINT_URL=http://minio:9000 is plain HTTP"):
        storage_from_settings(cdn, tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        client_settings("https://api:8000", ca_bundle=tmp_path / "missing.crt").client()


def test_s3_over_tls_verified_against_the_site_ca(s3_server, certs, tmp_path):
    port = int(s3_server.url.rsplit(":", 1)[1])
    proxy = TlsProxy(port, certs / "minio.crt", certs / "minio.key")
    try:
        trusted = CdnSettings(
            bucket="tls-bucket",
            endpoint_url=proxy.url,
            access_key="test",
            secret_key="test",
            ca_bundle=certs / "ca.crt",
        )
        storage = storage_from_settings(trusted, tmp_path)
        storage.ensure_bucket()
        source = tmp_path / "part.big"
        source.write_bytes(os.urandom(50_000))
        storage.upload("azaion.onnx.big", source)
        storage.download("azaion.onnx.big", tmp_path / "back.big")
        assert (tmp_path / "back.big").read_bytes() == source.read_bytes()
        untrusted = storage_from_settings(trusted.model_copy(update={"ca_bundle": None}), tmp_path)
        untrusted.attempts = 1
        with pytest.raises(StorageError):
            untrusted.download("azaion.onnx.big", tmp_path / "never.big")
        assert proxy.handshakes_failed >= 1 and not (tmp_path / "never.big").exists()
    finally:
        proxy.close()


def test_serving_https_needs_both_files(tmp_path, monkeypatch, certs):
    from api.settings import ApiSettings
    from azaion_shared.settings import load_settings

    monkeypatch.setenv("AZAION_ENV", "test")
    monkeypatch.setenv("AZAION_API__TLS_CERT", str(certs / "api.crt"))
    monkeypatch.delenv("AZAION_API__TLS_KEY", raising=False)
    with pytest.raises(ConfigError, match="both AZAION_API__TLS_CERT and AZAION_API__TLS_KEY"):
        load_settings(ApiSettings).tls_files()
    monkeypatch.setenv("AZAION_API__TLS_KEY", str(tmp_path / "missing.key"))
    with pytest.raises(ConfigError, match=r"AZAION_API__TLS_KEY=.*missing\.key does not exist"):
        load_settings(ApiSettings).tls_files()
