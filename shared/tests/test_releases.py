"""Signed releases and channel pointers: what a device accepts, and what it refuses."""

from __future__ import annotations

import pytest

from azaion_shared import signing
from azaion_shared.errors import SignatureError
from azaion_shared.releases import (
    Artifact,
    ChannelPointer,
    Release,
    now_iso,
    sign_pointer,
    sign_release,
    verify_pointer,
    verify_release,
    versioned_resource,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    ours, theirs = signing.generate(folder / "ours"), signing.generate(folder / "attacker")
    return (
        signing.load_private(ours.private),
        signing.load_public(ours.public),
        signing.load_private(theirs.private),
    )


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


def test_a_signed_release_round_trips_and_names_its_artifacts(keys):
    private, public, _ = keys
    original = release()
    got = verify_release(sign_release(original, private), [public], expected_version=3)
    assert got == original
    assert got.artifact("onnx").resource == "azaion.v3.onnx"
    assert got.artifact("tensorrt", "87").compute_capability == "87" and got.artifact("tensorrt", "86") is None
    with pytest.raises(SignatureError, match="asked for release 4"):
        verify_release(sign_release(original, private), [public], expected_version=4)


def test_forged_releases_and_pointers_are_refused(keys):
    private, public, attacker = keys
    with pytest.raises(SignatureError, match="unknown key"):
        verify_release(sign_release(release(), attacker), [public])
    envelope = sign_release(release(), private)
    envelope["payload"] = envelope["payload"].replace("a" * 64, "0" * 64)  # another plaintext hash
    with pytest.raises(SignatureError, match="does not verify"):
        verify_release(envelope, [public])
    pointer = sign_pointer(ChannelPointer("stable", 5, 3), private)
    with pytest.raises(SignatureError, match="not a release manifest"):
        verify_release(pointer, [public])  # a signed pointer is no manifest
    with pytest.raises(SignatureError, match="not a channel pointer"):
        verify_pointer(sign_release(release(), private), [public], "stable")


def test_pointers_only_move_forward(keys):
    private, public, _ = keys
    assert verify_pointer(sign_pointer(ChannelPointer("stable", 5, 3), private), [public], "stable", 4).version == 3
    rollback = sign_pointer(ChannelPointer("stable", 6, 2), private)  # a rollback is a newer sequence
    assert verify_pointer(rollback, [public], "stable", 5) == ChannelPointer("stable", 6, 2)
    replayed = sign_pointer(ChannelPointer("stable", 5, 3), private)
    with pytest.raises(SignatureError, match="replayed pointer is refused"):
        verify_pointer(replayed, [public], "stable", 6)
    with pytest.raises(SignatureError, match="for 'beta'"):
        verify_pointer(sign_pointer(ChannelPointer("beta", 9, 3), private), [public], "stable")
