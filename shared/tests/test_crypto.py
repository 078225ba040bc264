import base64
import os
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azaion_shared import crypto
from azaion_shared.__main__ import main as cli
from azaion_shared.crypto import (
    HEADER_SIZE,
    IV_SIZE,
    TAG_SIZE,
    DecryptionError,
    decrypt_bytes,
    decrypt_file,
    encrypt_bytes,
    encrypt_file,
    encrypted_size,
)
from azaion_shared.errors import ConfigError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SIZES = [0, 1, 15, 16, 17, 3 * 1024 - 1, 3 * 1024, 3 * 1024 + 1, 10_000_000]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_sizes(size, tmp_path):
    data = os.urandom(size)
    blob = encrypt_bytes(data, KEY)
    assert len(blob) == encrypted_size(size)
    assert decrypt_bytes(blob, KEY) == data
    src, enc, out = tmp_path / "m", tmp_path / "m.enc", tmp_path / "m.out"
    src.write_bytes(data)
    assert encrypt_file(src, enc, KEY) == encrypted_size(size)
    assert decrypt_file(enc, out, KEY) == size
    assert out.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "m.enc", "m.out"]  # no temporaries left


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=70_000))
def test_round_trip_property(data):
    assert decrypt_bytes(encrypt_bytes(data, KEY), KEY) == data


def test_encryption_is_randomised():
    assert encrypt_bytes(b"same", KEY) != encrypt_bytes(b"same", KEY)


def test_chunk_boundaries(monkeypatch):
    monkeypatch.setattr(crypto, "CHUNK", 64)  # many chunks, padding across a boundary
    for size in (0, 63, 64, 65, 128, 1000):
        data = os.urandom(size)
        assert decrypt_bytes(encrypt_bytes(data, KEY), KEY) == data


REGIONS = {
    "magic": 0,
    "version": 5,
    "salt": 10,
    "size": 30,
    "iv": HEADER_SIZE + 3,
    "body start": HEADER_SIZE + IV_SIZE + 1,
    "body middle": None,
    "last block": -TAG_SIZE - 1,
    "tag": -5,
}


@pytest.mark.parametrize("region", list(REGIONS))
def test_any_flipped_bit_is_refused_and_leaves_nothing(region, tmp_path):
    data = os.urandom(5000)
    blob = bytearray(encrypt_bytes(data, KEY))
    index = REGIONS[region] if REGIONS[region] is not None else len(blob) // 2
    blob[index] ^= 0x01
    with pytest.raises(DecryptionError):
        decrypt_bytes(bytes(blob), KEY)
    enc = tmp_path / "m.enc"
    enc.write_bytes(blob)
    with pytest.raises(DecryptionError):
        decrypt_file(enc, tmp_path / "out", KEY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.enc"]  # no plaintext, no temporary


def test_a_file_changed_after_its_tag_is_checked_cannot_yield_other_plaintext(tmp_path, monkeypatch):
    """An attacker rewrites the encrypted file at the exact moment its MAC is compared: whatever was
    decrypted must be what the MAC covered (a second read of the file would decrypt the new bytes)."""
    from azaion_shared import crypto

    data = os.urandom(3 * crypto.CHUNK + 123)
    enc = tmp_path / "m.enc"
    enc.write_bytes(encrypt_bytes(data, KEY))
    real = crypto.hmac.compare_digest

    def rewrite_then_compare(a, b):
        with open(enc, "r+b") as fh:  # flip a byte in every chunk of ciphertext
            for offset in range(HEADER_SIZE + IV_SIZE + 100, enc.stat().st_size - TAG_SIZE, crypto.CHUNK):
                fh.seek(offset)
                byte = fh.read(1)
                fh.seek(offset)
                fh.write(bytes([byte[0] ^ 0xFF]))
        return real(a, b)

    monkeypatch.setattr(crypto.hmac, "compare_digest", rewrite_then_compare)
    out = tmp_path / "out"
    try:
        decrypt_file(enc, out, KEY)
    except DecryptionError:
        assert not out.exists()
    else:
        assert out.read_bytes() == data


def test_plaintext_is_private_and_named_only_after_the_tag_verifies(tmp_path, monkeypatch):
    from azaion_shared import crypto

    data = os.urandom(2 * crypto.CHUNK)
    enc = tmp_path / "m.enc"
    enc.write_bytes(encrypt_bytes(data, KEY))
    seen = {}
    real = crypto.hmac.compare_digest

    def look_then_compare(a, b):
        seen["names"] = sorted(p.name for p in tmp_path.iterdir())
        seen["modes"] = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir() if p.name != "m.enc"}
        return real(a, b)

    monkeypatch.setattr(crypto.hmac, "compare_digest", look_then_compare)
    old = os.umask(0o022)
    try:
        decrypt_file(enc, tmp_path / "out", KEY)
    finally:
        os.umask(old)
    assert "out" not in seen["names"] and len(seen["names"]) == 2  # m.enc and one temporary file
    assert set(seen["modes"].values()) == {0o600}
    assert (tmp_path / "out").read_bytes() == data and (tmp_path / "out").stat().st_mode & 0o777 == 0o600


def test_wrong_key_truncation_and_garbage(tmp_path):
    blob = encrypt_bytes(os.urandom(1000), KEY)
    with pytest.raises(DecryptionError, match="wrong model key"):
        decrypt_bytes(blob, OTHER_KEY)
    for cut in (1, TAG_SIZE, 100, len(blob) - HEADER_SIZE, len(blob) - 1):
        with pytest.raises(DecryptionError):
            decrypt_bytes(blob[:-cut], KEY)
    with pytest.raises(DecryptionError, match="extra bytes"):
        decrypt_bytes(blob + b"x" * 16, KEY)
    with pytest.raises(DecryptionError, match="bad magic"):
        decrypt_bytes(os.urandom(500), KEY)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(DecryptionError, match="empty"):
        decrypt_file(empty, tmp_path / "out", KEY)


def test_newer_container_version_is_named():
    blob = bytearray(encrypt_bytes(b"x", KEY))
    blob[5] = 9
    with pytest.raises(DecryptionError, match="version 9"):
        decrypt_bytes(bytes(blob), KEY)


def test_load_key_from_env_and_file(tmp_path):
    key = base64.b64encode(KEY).decode()
    assert crypto.load_key({"AZAION_MODEL_KEY": key}) == KEY
    path = tmp_path / "key"
    path.write_text(key + "\n")
    assert crypto.load_key({"AZAION_MODEL_KEY_FILE": str(path)}) == KEY
    with pytest.raises(ConfigError, match="no model key"):
        crypto.load_key({})
    with pytest.raises(ConfigError, match="decodes to 16 bytes"):
        crypto.load_key({"AZAION_MODEL_KEY": base64.b64encode(bytes(16)).decode()})
    with pytest.raises(ConfigError, match="not valid base64"):
        crypto.load_key({"AZAION_MODEL_KEY": "***"})
    with pytest.raises(ConfigError, match="cannot read the model key file"):
        crypto.load_key({"AZAION_MODEL_KEY_FILE": str(tmp_path / "missing")})


def test_cli_keygen_encrypt_decrypt(tmp_path, monkeypatch, capsys):
    key_file = tmp_path / "model.key"
    assert cli(["keygen", "--out", str(key_file)]) == 0
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("AZAION_MODEL_KEY_FILE", str(key_file))
    monkeypatch.delenv("AZAION_MODEL_KEY", raising=False)
    model = tmp_path / "model.onnx"
    model.write_bytes(os.urandom(20_000))
    assert cli(["encrypt", str(model), str(tmp_path / "m.enc")]) == 0
    assert cli(["split", str(tmp_path / "m.enc"), str(tmp_path / "s"), str(tmp_path / "b")]) == 0
    assert cli(["join", str(tmp_path / "s"), str(tmp_path / "b"), str(tmp_path / "j")]) == 0
    assert cli(["decrypt", str(tmp_path / "j"), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out").read_bytes() == model.read_bytes()
    monkeypatch.setenv("AZAION_MODEL_KEY", crypto.generate_key())  # a different key wins over the file
    assert cli(["decrypt", str(tmp_path / "j"), str(tmp_path / "out2")]) == 2  # bad input: exit 2, as every tool
    assert "failed authentication" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()


def test_decrypting_parts_equals_decrypting_them_joined_wherever_they_are_cut():
    """A model's small and big parts are decrypted without joining them (issue 28: no 10 MB copy under
    the GIL); cuts inside the header, at a chunk's edge and inside the tag, and three parts."""
    from azaion_shared.crypto import GENTLE_CHUNK, decrypt_parts

    data = os.urandom(3 * GENTLE_CHUNK + 123)
    blob = encrypt_bytes(data, KEY)
    for cuts in ([5], [48], [GENTLE_CHUNK + 48], [len(blob) - 7], [100, 2 * GENTLE_CHUNK]):
        edges = [0, *cuts, len(blob)]
        parts = [blob[a:b] for a, b in pairwise(edges)]
        assert decrypt_parts(parts, KEY) == data
        flipped = bytearray(blob)
        flipped[len(blob) // 2] ^= 1
        with pytest.raises(DecryptionError):
            decrypt_parts([flipped[a:b] for a, b in pairwise(edges)], KEY)
