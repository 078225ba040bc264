"""Model distribution end to end: the api service (uvicorn) and S3 (moto's server) over real HTTP."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flaky import FlakyProxy

from azaion_shared.api_client import ApiClient, RetryPolicy
from azaion_shared.cdn import LocalStorage
from azaion_shared.distribution import fetch_resource, publish_resource
from azaion_shared.errors import (
    ApiAuthError,
    ApiError,
    ApiNotFoundError,
    ChecksumMismatchError,
    DecryptionError,
    StorageError,
)

PASSWORD = "uploader-password"
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
KEY = os.urandom(32)


@pytest.fixture
def api(api_server):
    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("edge@x.io", PASSWORD, "Device")
    return api_server


def client(url, email="trainer@x.io", password=PASSWORD, retry=FAST):
    return ApiClient(url, email, password, retry=retry, timeout=5)


def test_upload_download_round_trip(api):
    with client(api.url) as c:
        c.upload("a.small", b"abc")
        assert c.download("a.small") == b"abc"
        assert c.logins == 1
    with client(api.url, "edge@x.io") as edge, pytest.raises(ApiAuthError, match="may not upload"):
        edge.upload("a.small", b"x")
    with client(api.url, password="wrong") as bad, pytest.raises(ApiAuthError, match="wrong email or password"):
        bad.download("a.small")
    with client(api.url) as c, pytest.raises(ApiNotFoundError):
        c.download("nothing.small")


def test_injected_500s_and_dropped_connections_are_retried(api):
    port = int(api.url.rsplit(":", 1)[1])
    with client(api.url) as c:
        c.upload("r.small", b"payload")
    proxy = FlakyProxy(port, drop=2, fail=1)
    try:
        with client(proxy.url) as c:
            assert c.download("r.small") == b"payload"
        assert proxy.connections >= 4  # 2 dropped + 1 failed + the answered ones
    finally:
        proxy.close()


def test_gives_up_with_a_clear_error(api):
    port = int(api.url.rsplit(":", 1)[1])
    proxy = FlakyProxy(port, fail=100, status=503)
    try:
        with client(proxy.url) as c, pytest.raises(ApiError, match=r"gave up after 4 attempts; last: HTTP 503"):
            c.download("r.small")
    finally:
        proxy.close()
    with client("http://127.0.0.1:9") as c, pytest.raises(ApiError, match="gave up after 4 attempts; last: Connect"):
        c.download("r.small")


def _expire(c: ApiClient, api) -> None:
    issued = datetime.now(UTC) - timedelta(hours=2)
    version = api.app.state.users.token_version("trainer@x.io")
    c._token = api.app.state.issuer.issue("trainer@x.io", "ResourceUploader", version, issued)


def test_expired_token_triggers_exactly_one_relogin(api):
    with client(api.url) as c:
        c.upload("t.small", b"x")
        assert c.logins == 1
        _expire(c, api)
        assert c.download("t.small") == b"x"
        assert c.logins == 2


def test_concurrent_downloads_share_one_relogin(api):
    with client(api.url) as c:
        c.upload("t.small", b"x")
        _expire(c, api)
        results, errors = [], []

        def fetch():
            try:
                results.append(c.download("t.small"))
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and results == [b"x"] * 8
        assert c.logins == 2  # the first login, then exactly one re-login for all eight


def test_s3_storage_multipart_checksum_and_resume(s3_server, tmp_path):
    storage = s3_server.storage(f"b-{uuid.uuid4().hex[:8]}", multipart_mb=5)
    data = os.urandom(12 * 1024 * 1024)  # three parts
    src = tmp_path / "big"
    src.write_bytes(data)
    digest = storage.upload("m.big", src)
    head = s3_server.client().head_object(Bucket=storage.bucket, Key="m.big")
    assert "-" in head["ETag"]  # a multipart upload
    assert storage.download("m.big", tmp_path / "out").read_bytes() == data
    # Resume: a partial download is continued, not restarted.
    part = tmp_path / "resumed.part"
    part.write_bytes(data[:5_000_000])
    assert storage.download("m.big", tmp_path / "resumed").read_bytes() == data
    assert not part.exists()
    # A corrupted object is refused and nothing is left under the destination name.
    s3_server.client().put_object(Bucket=storage.bucket, Key="m.big", Body=b"junk", Metadata={"sha256": digest})
    with pytest.raises(ChecksumMismatchError):
        storage.download("m.big", tmp_path / "bad")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad.part").exists()
    with pytest.raises(StorageError, match="not available"):
        storage.download("missing.big", tmp_path / "x")


def test_local_storage(tmp_path):
    storage = LocalStorage(tmp_path / "cdn")
    src = tmp_path / "src"
    src.write_bytes(b"big part")
    storage.upload("m.big", src)
    assert storage.exists("m.big")
    assert storage.download("m.big", tmp_path / "out").read_bytes() == b"big part"
    (tmp_path / "cdn" / "m.big").write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatchError):
        storage.download("m.big", tmp_path / "out2")
    with pytest.raises(StorageError, match="invalid object name"):
        storage.download("../etc/passwd", tmp_path / "x")


def test_publish_then_fetch_with_s3(api, s3_server, tmp_path):
    cdn = s3_server.storage(f"b-{uuid.uuid4().hex[:8]}")
    model = tmp_path / "azaion.onnx"
    model.write_bytes(os.urandom(300_000))
    with client(api.url) as trainer:
        published = publish_resource(model, "azaion.onnx", KEY, trainer, cdn)
    assert published.small_bytes == 3072
    assert (api.root / "api" / "resources" / "azaion.onnx.small").stat().st_size == 3072
    cache = tmp_path / "cache"
    with client(api.url, "edge@x.io") as edge:
        assert fetch_resource("azaion.onnx", KEY, edge, cdn, cache) == model.read_bytes()
        cached = list(cache.glob("azaion.onnx.*.big"))
        assert len(cached) == 1
        # Second fetch: the big part comes from the cache, not the CDN.
        cdn.delete("azaion.onnx.big")
        assert fetch_resource("azaion.onnx", KEY, edge, cdn, cache) == model.read_bytes()
        with pytest.raises(DecryptionError):
            fetch_resource("azaion.onnx", os.urandom(32), edge, cdn, cache)
    # No plaintext anywhere but the original.
    plain = model.read_bytes()[:64]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != model:
            assert plain not in path.read_bytes()


def test_new_publication_replaces_cached_big_part(api, tmp_path):
    cdn = LocalStorage(tmp_path / "cdn")
    cache = tmp_path / "cache"
    first, second = os.urandom(50_000), os.urandom(50_000)
    model = tmp_path / "m"
    with client(api.url) as trainer, client(api.url, "edge@x.io") as edge:
        model.write_bytes(first)
        publish_resource(model, "azaion.onnx", KEY, trainer, cdn)
        assert fetch_resource("azaion.onnx", KEY, edge, cdn, cache) == first
        model.write_bytes(second)
        publish_resource(model, "azaion.onnx", KEY, trainer, cdn)
        assert fetch_resource("azaion.onnx", KEY, edge, cdn, cache) == second
    assert len(list(cache.glob("*.big"))) == 1  # the old publication's part was dropped


def test_tampered_small_part_on_the_server_is_refused(api, tmp_path):
    cdn = LocalStorage(tmp_path / "cdn")
    model = tmp_path / "m"
    model.write_bytes(os.urandom(40_000))
    with client(api.url) as trainer:
        publish_resource(model, "azaion.onnx", KEY, trainer, cdn)
        small = bytearray(trainer.download("azaion.onnx.small"))
        small[-1] ^= 1
        trainer.upload("azaion.onnx.small", bytes(small))
        with pytest.raises(DecryptionError, match="failed authentication"):
            fetch_resource("azaion.onnx", KEY, trainer, cdn, tmp_path / "cache")


def test_client_settings(api):
    from pydantic import SecretStr

    from azaion_shared.api_client import ApiClientSettings
    from azaion_shared.errors import ConfigError

    with pytest.raises(ConfigError, match="AZAION_API_CLIENT__EMAIL"):
        ApiClientSettings().client()
    settings = ApiClientSettings(url=api.url, email="edge@x.io", password=SecretStr(PASSWORD), attempts=2)
    with settings.client() as c:
        assert c.login()


def test_downloads_stream_with_a_size_cap(api, tmp_path):
    tmp_path = tmp_path / "downloads"
    tmp_path.mkdir()
    with client(api.url) as c:
        c.upload("big.small", b"\x07" * 10_000)
    capped = ApiClient(api.url, "edge@x.io", PASSWORD, retry=FAST, timeout=5, max_download_bytes=4096)
    with capped as c:
        with pytest.raises(ApiError, match="over the limit of 4096 bytes"):
            c.download("big.small")
        with pytest.raises(ApiError, match="limit of 4096 bytes"):
            c.download("big.small", tmp_path / "out.bin")
        assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left
    with client(api.url, email="edge@x.io") as c:
        assert c.download("big.small", tmp_path / "out.bin") == tmp_path / "out.bin"
    assert (tmp_path / "out.bin").read_bytes() == b"\x07" * 10_000
