"""Recovering from a stolen online key that pushed the fleet's versions ahead (TUF's fast-forward attack),
with the procedure of docs/trust.md: restore the api's repository, make a new online key, install the next
root naming it. The device is the device's own Channel (python-tuf's ngclient against the real api)."""

from __future__ import annotations

import datetime as dt

import pytest
from release_kit import FAST, PASSWORD, Kit, onnx_file

from azaion_shared import tuf_repository as tuf
from azaion_shared.api_client import ApiClient
from azaion_shared.atomic import atomic_write_bytes
from azaion_shared.cdn import LocalStorage
from azaion_shared.crypto import generate_key, parse_key
from azaion_shared.errors import SignatureError
from azaion_shared.signing import generate
from inference.fleet import Channel
from inference.release_cache import ReleaseCache
from inference.settings import InferenceOptions


def test_a_fast_forward_by_a_stolen_online_key_is_undone_by_rotating_it(api_server, tmp_path):
    from tuf.api.metadata import Metadata, MetaFile, Snapshot, Timestamp

    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("edge@x.io", PASSWORD, "Device")
    trust = api_server.trust
    kit = Kit(api_server.url, LocalStorage(tmp_path / "cdn"), parse_key(generate_key()), tmp_path / "keys", trust)
    (tmp_path / "m.onnx").write_bytes(b"any bytes" * 100)
    kit.release(onnx_file(tmp_path / "m.onnx"), promote=True)
    with ApiClient(api_server.url, "edge@x.io", PASSWORD, retry=FAST) as edge:
        cache = ReleaseCache(tmp_path / "edge")
        device = Channel(
            InferenceOptions(trusted_root=kit.root_file).trust_client(edge, cache.folder),
            "stable",
            "edge-1",
            cache,
            edge,
        )
        device.poll()
        assert device.version == 1

        # the attacker holds the online key: a snapshot and timestamp far ahead, validly signed
        backup = {p.name: p.read_bytes() for p in trust.metadata.iterdir()}  # the operator's backup
        stolen = tuf.signer(trust.online_key)
        targets_version = max(int(p.name.split(".")[0]) for p in trust.metadata.glob("*.targets.json"))
        expires = tuf.utcnow() + dt.timedelta(days=1)
        snapshot = Metadata(
            Snapshot(version=10**6, expires=expires, meta={"targets.json": MetaFile(version=targets_version)})
        )
        snapshot.sign(stolen)
        atomic_write_bytes(trust.metadata / f"{10**6}.snapshot.json", tuf.to_bytes(snapshot))
        timestamp = Metadata(Timestamp(version=10**6, expires=expires, snapshot_meta=MetaFile(version=10**6)))
        timestamp.sign(stolen)
        atomic_write_bytes(trust.metadata / "timestamp.json", tuf.to_bytes(timestamp))
        device.poll()  # accepted: the signatures are genuine; the device now expects versions above 10**6

        # restored from the backup, the api's own versions look like a rollback: the device refuses them
        (trust.metadata / f"{10**6}.snapshot.json").unlink()
        for name, data in backup.items():
            atomic_write_bytes(trust.metadata / name, data)
        with trust._lock:
            trust._sign_online()
        with pytest.raises(SignatureError, match="version"):
            device.poll()

        # the procedure: a new online key, the next root naming it (2 of 3 root keys), installed
        new_key = generate(tmp_path / "online-2", "online")
        trust.online_key = new_key.private  # AZAION_API__ONLINE_KEY=... and a restart
        kit.make_root(online=new_key.public)
        device.poll()  # the rotation makes the device drop the snapshot and timestamp it trusted
        kit.release(onnx_file(tmp_path / "m.onnx"), promote=True)
        device.poll()
        assert device.version == 2
