"""The fleet's TUF repository through the real api (uvicorn on loopback): what it stores, what it refuses
(with 4xx, before anything is written), and the online roles it re-signs."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from azaion_shared import signing
from azaion_shared import tuf_repository as tuf
from azaion_shared.releases import Artifact, ChannelPointer, Release, document_bytes, now_iso

PASSWORD = "correct horse battery"


@pytest.fixture
def server(api_server, tmp_path):
    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("device@x.io", PASSWORD, "Device")
    keys = tmp_path / "keys"
    for name in ("root-1", "root-2", "publisher", "stranger"):
        signing.generate(keys, name)
    api_server.keys = keys
    return api_server


def install_root(server) -> None:
    keys = server.keys
    online = server.trust.ensure_online_key()
    root = tuf.new_root(
        [tuf.public_key(keys / "root-1.pub"), tuf.public_key(keys / "root-2.pub")],
        2,
        [tuf.public_key(keys / "publisher.pub")],
        [tuf.public_key(online)],
    )
    for name in ("root-1", "root-2"):
        root.sign(tuf.signer(keys / f"{name}.key"), append=True)
    server.trust.install_root(tuf.to_bytes(root))


def auth(server, email: str) -> dict:
    token = httpx.post(f"{server.url}/login", json={"email": email, "password": PASSWORD}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def manifest(version: int, resource: str | None = None) -> bytes:
    artifacts = ()
    if resource:
        artifacts = (Artifact(resource, "onnx", (96, 96), 4, "fp32", "a" * 64, 1, "b" * 64, 1, "c" * 64, 1),)
    return document_bytes(Release(version, "run-1", now_iso(), {}, {"0": "car"}, artifacts).to_document())


def upload(server, version: int, documents: dict[str, bytes], key: str = "publisher", send=None, who="trainer@x.io"):
    from tuf.api.metadata import TargetFile

    files = {path: TargetFile.from_data(path, data, ["sha256"]) for path, data in documents.items()}  # any name
    metadata = tuf.targets(version, files)
    metadata.sign(tuf.signer(server.keys / f"{key}.key"))
    sent = documents if send is None else send
    body = {"metadata": metadata.to_dict(), "files": {p: base64.b64encode(d).decode() for p, d in sent.items()}}
    return httpx.put(f"{server.url}/tuf/targets", json=body, headers=auth(server, who))


def test_targets_are_checked_against_the_root_and_served_to_devices(server):
    one = {"releases/1.json": manifest(1, "azaion.v1.onnx")}
    refused = upload(server, 1, one)
    assert refused.status_code == 409 and "no root is installed" in refused.json()["detail"]
    install_root(server)
    assert upload(server, 1, one, who="device@x.io").status_code == 403  # devices never publish
    assert upload(server, 1, one, key="stranger").status_code == 400  # a key the root does not name
    stored = upload(server, 1, one)
    assert stored.status_code == 200 and stored.json() == {"version": 1}
    assert upload(server, 1, one).status_code == 409  # never the same version twice, nor an older one

    device = auth(server, "device@x.io")
    timestamp = httpx.get(f"{server.url}/tuf/metadata/timestamp.json", headers=device)
    assert json.loads(timestamp.content)["signed"]["_type"] == "timestamp"
    assert httpx.get(f"{server.url}/tuf/metadata/1.targets.json", headers=device).status_code == 200
    assert httpx.get(f"{server.url}/tuf/metadata/1.root.json", headers=device).status_code == 200
    assert httpx.get(f"{server.url}/tuf/metadata/2.root.json", headers=device).status_code == 404  # no rotation yet
    assert httpx.get(f"{server.url}/tuf/metadata/..%2Fusers.sqlite3", headers=device).status_code == 404
    assert httpx.get(f"{server.url}/tuf/metadata/timestamp.json").status_code == 401
    digest = tuf.target_file("releases/1.json", one["releases/1.json"]).hashes["sha256"]
    target = httpx.get(f"{server.url}/tuf/targets/releases/{digest}.1.json", headers=device)
    assert target.content == one["releases/1.json"]

    # a second version that only adds a pointer: the release's bytes are stored already
    two = one | {"channels/stable.json": document_bytes(ChannelPointer("stable", 1).to_document())}
    assert upload(server, 2, two, send={"channels/stable.json": two["channels/stable.json"]}).status_code == 200
    listed = httpx.get(f"{server.url}/releases", headers=device).json()
    assert listed["versions"] == [1] and listed["channels"][0]["version"] == 1 and listed["targets_version"] == 2


@pytest.mark.parametrize(
    "documents, send, problem",
    [
        ({"releases/99999999999.json": manifest(1)}, None, "not a target name"),  # an over-long version
        ({"releases/1.json": manifest(1, "../../x")}, None, "resource name"),  # an artifact outside the store
        ({"releases/2.json": manifest(1)}, None, "holds release 1"),  # release 1's manifest as release 2
        (
            {"channels/beta.json": document_bytes(ChannelPointer("stable", 1).to_document())},
            None,
            "the pointer is for 'stable'",
        ),
        ({"releases/1.json": manifest(1)}, {}, "neither sent nor stored"),
        ({"releases/1.json": manifest(1)}, {"releases/1.json": manifest(1, "azaion.v1.onnx")}, "length"),
        ({"releases/1.json": b"<html>"}, None, "not JSON"),
    ],
)
def test_malformed_targets_are_refused_whole_with_400(server, documents, send, problem):
    install_root(server)
    answer = upload(server, 1, documents, send=send)
    assert answer.status_code == 400 and problem in answer.json()["detail"], answer.text
    assert not (server.trust.metadata / "1.targets.json").exists()  # nothing half-stored
    assert not list(server.trust.targets.rglob("*.json"))


def test_a_garbled_upload_is_a_4xx(server):
    install_root(server)
    trainer = auth(server, "trainer@x.io")
    for body in ({"metadata": {"signed": {}}}, {"metadata": {}, "files": {"releases/1.json": "***"}}, {"x": 1}):
        answer = httpx.put(f"{server.url}/tuf/targets", json=body, headers=trainer)
        assert 400 <= answer.status_code < 500, answer.text


def test_snapshot_and_timestamp_are_re_signed_before_they_expire(server):
    install_root(server)
    assert upload(server, 1, {"releases/1.json": manifest(1)}).status_code == 200
    trust = server.trust
    first = tuf.load((trust.metadata / "timestamp.json").read_bytes(), tuf.TIMESTAMP)
    assert trust.resign_if_due() is False  # a whole day left
    trust.expiry_hours = 2 / 3600  # two seconds: re-signed once less than one is left
    with trust._lock:
        trust._sign_online()
    time.sleep(1.1)
    device = auth(server, "device@x.io")
    served = httpx.get(f"{server.url}/tuf/metadata/timestamp.json", headers=device)
    again = tuf.load(served.content, tuf.TIMESTAMP)
    assert again.signed.version > first.signed.version + 1 and not again.signed.is_expired()
