"""Release manifests and channel pointers through the real api (uvicorn on loopback)."""

from __future__ import annotations

import json

import httpx
import pytest

from azaion_shared import signing
from azaion_shared.releases import ChannelPointer, Release, now_iso, sign_pointer, sign_release

PASSWORD = "correct horse battery"


@pytest.fixture
def server(api_server, tmp_path):
    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("device@x.io", PASSWORD, "Device")
    pair = signing.generate(tmp_path / "keys")
    api_server.private = signing.load_private(pair.private)
    return api_server


def auth(server, email: str) -> dict:
    token = httpx.post(f"{server.url}/login", json={"email": email, "password": PASSWORD}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def manifest(server, version: int, run: str = "run-1") -> bytes:
    release = Release(version, run, now_iso(), {"map50_95": 0.5, "map50": 0.8}, {"0": "car"}, ())
    return json.dumps(sign_release(release, server.private)).encode()


def pointer(server, channel: str, sequence: int, version: int) -> bytes:
    return json.dumps(sign_pointer(ChannelPointer(channel, sequence, version), server.private)).encode()


def test_releases_are_stored_once_and_served_with_etags(server):
    trainer, device = auth(server, "trainer@x.io"), auth(server, "device@x.io")
    url = f"{server.url}/releases/1"
    first = manifest(server, 1)
    assert httpx.put(url, content=first, headers=trainer).json() == {"version": 1, "created": True}
    assert httpx.put(url, content=first, headers=trainer).json() == {"version": 1, "created": False}  # idempotent
    assert httpx.put(url, content=manifest(server, 1, "other-run"), headers=trainer).status_code == 409
    assert httpx.put(url, content=first, headers=device).status_code == 403  # devices never publish
    assert httpx.put(f"{server.url}/releases/2", content=first, headers=trainer).status_code == 400  # 1 is not 2
    assert httpx.put(f"{server.url}/releases/3", content=b"{not json", headers=trainer).status_code == 400
    got = httpx.get(url, headers=device)
    assert got.status_code == 200 and got.content == first
    again = httpx.get(url, headers=device | {"If-None-Match": got.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    assert httpx.get(f"{server.url}/releases", headers=device).json() == {"versions": [1]}
    assert httpx.get(f"{server.url}/releases/9", headers=device).status_code == 404
    assert httpx.get(url).status_code == 401


def test_channels_only_move_forward(server):
    trainer, device = auth(server, "trainer@x.io"), auth(server, "device@x.io")
    url = f"{server.url}/channels/stable"
    assert httpx.get(url, headers=device).status_code == 404
    assert httpx.put(url, content=pointer(server, "stable", 1, 1), headers=trainer).json() == {
        "channel": "stable",
        "sequence": 1,
    }
    assert httpx.put(url, content=pointer(server, "stable", 1, 2), headers=trainer).status_code == 409
    assert httpx.put(url, content=pointer(server, "stable", 2, 1), headers=trainer).status_code == 200  # a rollback
    assert httpx.put(url, content=pointer(server, "beta", 3, 1), headers=trainer).status_code == 400
    assert httpx.put(url, content=pointer(server, "stable", 3, 1), headers=device).status_code == 403
    assert httpx.put(f"{server.url}/channels/Bad_Name", content=b"{}", headers=trainer).status_code == 400
    current = httpx.get(url, headers=device)
    assert json.loads(json.loads(current.content)["payload"])["sequence"] == 2
    assert httpx.get(url, headers=device | {"If-None-Match": current.headers["ETag"]}).status_code == 304


def test_the_openapi_schema_lists_the_release_endpoints(server):
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert {"/releases", "/releases/{version}", "/channels/{channel}", "/parts/{name}", "/parts/{name}/content"} <= set(
        paths
    )
    assert {"get", "put", "delete"} <= set(paths["/releases/{version}"])
    assert {"get", "put"} <= set(paths["/channels/{channel}"])


def test_pruning_a_release_drops_its_small_parts_but_never_the_channels_release(server):
    from azaion_shared.releases import Artifact

    trainer, device = auth(server, "trainer@x.io"), auth(server, "device@x.io")
    artifact = Artifact("azaion.v1.onnx", "onnx", (96, 96), 4, "fp32", "a" * 64, 1, "b" * 64, 1, "c" * 64, 1)
    release = Release(1, "run-1", now_iso(), {}, {"0": "car"}, (artifact,))
    body = json.dumps(sign_release(release, server.private)).encode()
    assert httpx.put(f"{server.url}/releases/1", content=body, headers=trainer).status_code == 201
    assert httpx.put(f"{server.url}/releases/2", content=manifest(server, 2), headers=trainer).status_code == 201
    assert httpx.put(f"{server.url}/resources/azaion.v1.onnx.small", content=b"s", headers=trainer).status_code == 200
    httpx.put(f"{server.url}/channels/stable", content=pointer(server, "stable", 1, 1), headers=trainer)
    assert httpx.delete(f"{server.url}/releases/1", headers=device).status_code == 403
    refused = httpx.delete(f"{server.url}/releases/1", headers=trainer)
    assert refused.status_code == 409 and "channel stable points at release 1" in refused.json()["detail"]
    httpx.put(f"{server.url}/channels/stable", content=pointer(server, "stable", 2, 2), headers=trainer)
    gone = httpx.delete(f"{server.url}/releases/1", headers=trainer)
    assert gone.json() == {"version": 1, "resources": ["azaion.v1.onnx"]}
    assert httpx.get(f"{server.url}/releases", headers=device).json() == {"versions": [2]}
    assert httpx.get(f"{server.url}/resources/azaion.v1.onnx.small", headers=device).status_code == 404
    assert httpx.delete(f"{server.url}/releases/1", headers=trainer).status_code == 404
