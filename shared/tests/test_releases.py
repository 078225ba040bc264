"""The fleet's documents and TUF roles: release manifests, channel pointers (staged rollouts), and the
root ceremony's rules (a threshold of offline keys, rotation signed by the old and the new root)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from azaion_shared import signing
from azaion_shared import tuf_repository as tuf
from azaion_shared.errors import SignatureError
from azaion_shared.releases import (
    Artifact,
    ChannelPointer,
    Release,
    document_bytes,
    now_iso,
    parse_pointer,
    parse_release,
    rollout_slot,
    versioned_resource,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    for name in ("root-1", "root-2", "root-3", "root-4", "publisher", "online", "attacker"):
        signing.generate(folder, name)
    return folder


def release(version: int = 3) -> Release:
    onnx = Artifact(
        versioned_resource("azaion.onnx", version),
        "onnx",
        (1280, 1280),
        4,
        "fp32",
        "a" * 64,
        100,
        "b" * 64,
        20,
        "c" * 64,
        80,
    )
    engine = Artifact(
        versioned_resource("azaion.cc87.engine", version),
        "tensorrt",
        (1280, 1280),
        4,
        "fp16",
        "d" * 64,
        50,
        "e" * 64,
        10,
        "f" * 64,
        40,
        compute_capability="87",
    )
    return Release(version, "20261127-1200", now_iso(), {"map50_95": 0.61, "map50": 0.82}, {"0": "car"}, (onnx, engine))


def test_versioned_names_never_collide_across_releases():
    assert versioned_resource("azaion.onnx", 7) == "azaion.v7.onnx"
    assert versioned_resource("azaion.cc87.engine", 7) == "azaion.cc87.v7.engine"
    assert versioned_resource("azaion.rknn", 12) == "azaion.v12.rknn"
    assert len({versioned_resource("azaion.onnx", v) for v in range(1, 50)}) == 49
    with pytest.raises(ValueError):
        versioned_resource("azaion.onnx", 0)


def test_a_release_round_trips_and_names_its_artifacts():
    original = release()
    got = parse_release(document_bytes(original.to_document()), expected_version=3)
    assert got == original
    assert got.artifact("onnx").resource == "azaion.v3.onnx"
    assert got.artifact("tensorrt", "87").compute_capability == "87" and got.artifact("tensorrt", "86") is None
    with pytest.raises(SignatureError, match="asked for release 4"):
        parse_release(document_bytes(original.to_document()), expected_version=4)
    pointer = document_bytes(ChannelPointer("stable", 3).to_document())
    with pytest.raises(SignatureError, match="not a release manifest"):
        parse_release(pointer)  # a pointer is no manifest
    with pytest.raises(SignatureError, match="not a channel pointer"):
        parse_pointer(document_bytes(original.to_document()), "stable")
    with pytest.raises(SignatureError, match="for 'beta'"):
        parse_pointer(document_bytes(ChannelPointer("beta", 3).to_document()), "stable")
    with pytest.raises(SignatureError, match="not JSON"):
        parse_release(b"<html>502</html>")


def test_a_staged_rollout_reaches_about_its_fraction_and_each_device_always_lands_alike():
    pointer = ChannelPointer("stable", 8, 0.1, 7)
    names = [f"edge-{i}" for i in range(2000)]
    taking = [n for n in names if pointer.version_for(n) == 8]
    assert 150 < len(taking) < 250  # about 10 % (a stable hash, not a coin toss)
    assert all(pointer.version_for(n) == 7 for n in names if n not in taking)
    wider = ChannelPointer("stable", 8, 0.5, 7)
    assert all(wider.version_for(n) == 8 for n in taking)  # widening never takes a device back
    assert ChannelPointer("stable", 8, 1.0, 7).version_for("edge-1") == 8
    assert rollout_slot("stable", "edge-1") == rollout_slot("stable", "edge-1") != rollout_slot("beta", "edge-1")
    with pytest.raises(SignatureError):
        parse_pointer(b'{"kind": "azaion.channel.v2", "channel": "stable", "version": 2, "fraction": 1.5}', "stable")


def _root(keys, root_names, threshold=2, previous=None, targets=("publisher",)):
    return tuf.new_root(
        [tuf.public_key(keys / f"{n}.pub") for n in root_names],
        threshold,
        [tuf.public_key(keys / f"{n}.pub") for n in targets],
        [tuf.public_key(keys / "online.pub")],
        previous=previous,
    )


def test_a_root_needs_its_threshold_and_a_rotation_needs_the_old_roots_too(keys):
    first = _root(keys, ("root-1", "root-2", "root-3"))
    first.sign(tuf.signer(keys / "root-1.key"), append=True)
    with pytest.raises(SignatureError, match="under-signed"):
        tuf.check_root(first)  # 1 of 2
    first.sign(tuf.signer(keys / "root-2.key"), append=True)
    assert "root version 1" in tuf.check_root(tuf.load(tuf.to_bytes(first), tuf.ROOT))

    # rotate root-1 out and root-4 in, and the publisher key to the attacker's (say, a new one)
    second = _root(keys, ("root-2", "root-3", "root-4"), previous=first, targets=("attacker",))
    assert second.signed.version == 2
    for name in ("root-3", "root-4"):  # the new root's threshold, but only one of the old root's keys
        second.sign(tuf.signer(keys / f"{name}.key"), append=True)
    with pytest.raises(SignatureError, match="under-signed"):
        tuf.check_root(second, first)
    second.sign(tuf.signer(keys / "root-2.key"), append=True)  # root-2 and root-3: the old threshold
    tuf.check_root(second, first)
    with pytest.raises(SignatureError, match="cannot follow"):
        tuf.check_root(first, second)  # never backwards

    targets = tuf.targets(1, {"releases/3.json": tuf.target_file("releases/3.json", b"{}")})
    targets.sign(tuf.signer(keys / "publisher.key"))
    tuf.check_signed_by(first, tuf.TARGETS, targets)
    with pytest.raises(SignatureError, match="not signed by the targets key"):
        tuf.check_signed_by(second, tuf.TARGETS, targets)  # the rotated-out key signs nothing any more
    with pytest.raises(SignatureError, match="not a target name"):
        tuf.target_file("../../etc/passwd", b"x")


def test_the_root_ceremony_command_line(tmp_path, keys):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "azaion_shared", "root", *args], capture_output=True, text=True)

    out = tmp_path / "root.json"
    made = run(
        "new",
        "--out",
        str(out),
        "--root-key",
        str(keys / "root-1.pub"),
        "--root-key",
        str(keys / "root-2.pub"),
        "--root-key",
        str(keys / "root-3.pub"),
        "--targets-key",
        str(keys / "publisher.pub"),
        "--online-key",
        str(keys / "online.pub"),
    )
    assert made.returncode == 0 and "2 of 3 root keys" in made.stdout, made.stderr
    refused = run("verify", str(out))
    assert refused.returncode == 2 and "under-signed" in refused.stderr and "Traceback" not in refused.stderr
    for name in ("root-1", "root-3"):
        assert run("sign", str(out), "--key", str(keys / f"{name}.key")).returncode == 0
    assert run("verify", str(out)).returncode == 0
