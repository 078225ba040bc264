"""Publisher signatures: only documents signed by a trusted Ed25519 key are accepted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from azaion_shared import signing
from azaion_shared.errors import SignatureError

RELEASE = {"version": 7, "run": "20261127-1200", "classes": {"0": "car"}, "artifacts": [{"name": "azaion.onnx"}]}


@pytest.fixture
def publisher(tmp_path):
    pair = signing.generate(tmp_path / "publisher")
    return signing.load_private(pair.private), signing.load_public(pair.public), pair


def test_a_signed_document_verifies_with_the_trusted_key(publisher):
    private, public, pair = publisher
    envelope = signing.sign(RELEASE, private)
    assert signing.verify(envelope, [public]) == RELEASE
    assert envelope["signatures"][0]["key_id"] == pair.key_id
    assert pair.private.stat().st_mode & 0o777 == 0o600
    assert signing.verify(json.loads(json.dumps(envelope)), [public]) == RELEASE  # survives transport


def test_altered_or_forged_documents_are_refused(publisher, tmp_path):
    private, public, _ = publisher
    envelope = signing.sign(RELEASE, private)
    altered = dict(envelope, payload=envelope["payload"].replace('"version":7', '"version":8'))
    with pytest.raises(SignatureError, match="does not verify"):
        signing.verify(altered, [public])
    attacker = signing.generate(tmp_path / "attacker")  # a key nobody trusts
    forged = signing.sign(RELEASE | {"version": 99}, signing.load_private(attacker.private))
    with pytest.raises(SignatureError, match=f"unknown key \\({attacker.key_id}\\)"):
        signing.verify(forged, [public])
    stolen_id = dict(forged, signatures=[dict(forged["signatures"][0], key_id=envelope["signatures"][0]["key_id"])])
    with pytest.raises(SignatureError, match="does not verify"):
        signing.verify(stolen_id, [public])  # claiming the trusted key's id does not help
    for broken in ({}, {"payload": "x"}, {"payload": "x", "signatures": "no"}):
        with pytest.raises(SignatureError):
            signing.verify(broken, [public])
    with pytest.raises(SignatureError, match="no trusted publisher key"):
        signing.verify(envelope, [])


def test_two_trusted_keys_during_a_rotation(publisher, tmp_path):
    old_private, old_public, _ = publisher
    new = signing.generate(tmp_path / "new")
    new_private, new_public = signing.load_private(new.private), signing.load_public(new.public)
    trusted = [old_public, new_public]
    assert signing.verify(signing.sign(RELEASE, old_private), trusted) == RELEASE
    assert signing.verify(signing.sign(RELEASE, new_private), trusted) == RELEASE
    with pytest.raises(SignatureError, match="unknown key"):
        signing.verify(signing.sign(RELEASE, old_private), [new_public])  # after the old key is retired


def test_keygen_signing_command(tmp_path):
    out = tmp_path / "keys"
    done = subprocess.run(
        [sys.executable, "-m", "azaion_shared", "keygen", "--signing", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "publisher.key").stat().st_mode & 0o777 == 0o600 and (out / "publisher.pub").exists()
    again = subprocess.run(
        [sys.executable, "-m", "azaion_shared", "keygen", "--signing", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "exists" in again.stderr  # never overwrites a signing key
    with pytest.raises(SignatureError, match=r"not an Ed25519 public key|cannot read"):
        signing.load_public(out / "publisher.key")
