"""Ed25519 key files for the fleet's roles: made once, private ones 0600, never overwritten."""

from __future__ import annotations

import subprocess
import sys

import pytest

from azaion_shared import signing
from azaion_shared.errors import SignatureError


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


def test_keygen_names_a_pair_for_its_role(tmp_path):
    pair = signing.generate(tmp_path, "root-1")
    assert pair.private.name == "root-1.key" and pair.public.name == "root-1.pub"
    assert pair.private.stat().st_mode & 0o777 == 0o600
    signing.load_private(pair.private)
    signing.load_public(pair.public)
