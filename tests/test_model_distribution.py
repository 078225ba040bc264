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
from azaion_shared.errors import (
    ApiAuthError,
    ApiError,
    ApiNotFoundError,
    ChecksumMismatchError,
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


def test_a_device_gets_big_parts_through_presigned_links_without_cdn_credentials(api, s3_server, tmp_path):
    """S3: the api presigns a short-lived GET; the device's client downloads with no S3 credentials at all,
    checks the hash it was given, and a wrong hash is refused with nothing left behind."""
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    api.app.state.cdn = s3_server.storage(bucket)  # the api's CDN (read access is all it needs)
    data = os.urandom(300_000)
    source = tmp_path / "part"
    source.write_bytes(data)
    digest = api.app.state.cdn.upload("azaion.v1.onnx.big", source)
    with client(api.url, "edge@x.io") as edge:
        link = edge._http.get("/parts/azaion.v1.onnx.big", headers={"Authorization": f"Bearer {edge.login()}"})
        assert link.status_code == 200 and link.json()["auth"] is False
        assert "X-Amz-Signature" in link.json()["url"] and link.json()["expires_in"] == 300
        out = edge.download_part("azaion.v1.onnx.big", tmp_path / "got.big", digest, len(data))
        assert out.read_bytes() == data
        with pytest.raises(ChecksumMismatchError, match=r"not the .* the signed release says"):
            edge.download_part("azaion.v1.onnx.big", tmp_path / "bad.big", "0" * 64, len(data))
        with pytest.raises(ApiNotFoundError):
            edge.download_part("azaion.v9.onnx.big", tmp_path / "none.big", digest, len(data))
    assert sorted(p.name for p in tmp_path.glob("*.big*")) == ["got.big"]


def test_a_local_folder_cdn_is_streamed_by_the_api_with_ranges(api, tmp_path):
    data = os.urandom(200_000)
    source = tmp_path / "part"
    source.write_bytes(data)
    digest = api.app.state.cdn.upload("azaion.v1.onnx.big", source)
    with client(api.url, "edge@x.io") as edge:
        token = edge.login()
        link = edge._http.get("/parts/azaion.v1.onnx.big", headers={"Authorization": f"Bearer {token}"}).json()
        assert link == {"url": "/parts/azaion.v1.onnx.big/content", "auth": True, "expires_in": 0}
        ranged = edge._http.get(link["url"], headers={"Authorization": f"Bearer {token}", "Range": "bytes=1000-"})
        assert ranged.status_code == 206 and ranged.content == data[1000:]
        assert edge._http.get(link["url"]).status_code == 401  # the api's own link needs the token
        assert edge.download_part("azaion.v1.onnx.big", tmp_path / "got.big", digest, len(data)).read_bytes() == data


def test_a_part_longer_than_the_release_says_is_cut_off(api, tmp_path):
    source = tmp_path / "part"
    source.write_bytes(os.urandom(50_000))
    digest = api.app.state.cdn.upload("azaion.v1.onnx.big", source)
    with client(api.url, "edge@x.io") as edge, pytest.raises(ChecksumMismatchError, match="more than the 40000"):
        edge.download_part("azaion.v1.onnx.big", tmp_path / "got.big", digest, 40_000)
    assert not list(tmp_path.glob("got.*"))


def test_an_answer_that_is_not_json_is_an_api_error():
    import httpx

    from azaion_shared import http_contract as contract

    for body, says in [(b"", "not JSON: ''"), (b"<html>502</html>", "not JSON: '<html>"), (b"[1]", "not an object")]:

        def handler(request: httpx.Request, body=body) -> httpx.Response:
            if request.url.path == contract.LOGIN:
                return httpx.Response(200, json={"token": "a.e30.b"})
            return httpx.Response(200, content=body)  # a proxy's error page, a cut-off body

        transport = httpx.MockTransport(handler)
        with (
            ApiClient("http://api.test", "edge@x.io", PASSWORD, transport=transport) as edge,
            pytest.raises(ApiError, match=f"list of releases: .*{says}"),
        ):
            edge.releases()


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


def test_presigned_links_name_the_endpoint_devices_reach(s3_server, tmp_path):
    from azaion_shared.cdn import S3Storage

    bucket = f"b-{uuid.uuid4().hex[:8]}"
    storage = S3Storage(
        bucket,
        endpoint_url=s3_server.url,
        access_key="test",
        secret_key="test",
        public_endpoint_url="https://cdn.example.org:9000",
    )
    storage.ensure_bucket()
    (tmp_path / "part").write_bytes(b"x" * 100)
    storage.upload("azaion.v1.onnx.big", tmp_path / "part")
    assert storage.link("azaion.v1.onnx.big", 60).startswith(
        f"https://cdn.example.org:9000/{bucket}/azaion.v1.onnx.big?"
    )
    assert storage.link("azaion.v2.onnx.big", 60) is None  # no such object: no link
