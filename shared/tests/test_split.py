import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azaion_shared.crypto import decrypt_bytes, encrypt_bytes
from azaion_shared.errors import DecryptionError
from azaion_shared.split import expected_total, join_bytes, join_files, small_size, split_bytes, split_file

KEY = os.urandom(32)


@pytest.mark.parametrize(("total", "small"), [(0, 0), (10, 2), (96, 19), (15_360, 3072), (15_359, 3071), (10**9, 3072)])
def test_small_size_rule(total, small):
    assert small_size(total) == small


@given(st.integers(min_value=0, max_value=10**10))
def test_small_is_min_of_3k_and_20_percent(total):
    small = small_size(total)
    assert small <= 3 * 1024 and small <= total * 0.2
    assert small == 3 * 1024 or small == total // 5


def test_split_and_join_files(tmp_path):
    data = os.urandom(100_000)
    enc = tmp_path / "m.enc"
    enc.write_bytes(encrypt_bytes(data, KEY))
    small_len, big_len = split_file(enc, tmp_path / "s", tmp_path / "b")
    assert small_len == 3072 and big_len == enc.stat().st_size - 3072
    assert (tmp_path / "s").read_bytes() + (tmp_path / "b").read_bytes() == enc.read_bytes()
    join_files((tmp_path / "s").read_bytes(), tmp_path / "b", tmp_path / "j")
    assert decrypt_bytes((tmp_path / "j").read_bytes(), KEY) == data


def test_join_checks_sizes():
    small, big = split_bytes(encrypt_bytes(os.urandom(50_000), KEY))
    with pytest.raises(DecryptionError, match="do not fit"):
        join_bytes(small, big[:-1])  # truncated big part
    with pytest.raises(DecryptionError, match="do not fit"):
        join_bytes(small[:-1], big)
    other_small, _other_big = split_bytes(encrypt_bytes(os.urandom(60_000), KEY))
    with pytest.raises(DecryptionError, match="header says"):
        expected_total(other_small, len(big))  # small of one publication, big of another


def test_parts_of_two_publications_are_refused():
    data = os.urandom(40_000)
    small_a, _big_a = split_bytes(encrypt_bytes(data, KEY))
    _small_b, big_b = split_bytes(encrypt_bytes(data, KEY))  # same model, same size, new salt
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_bytes(join_bytes(small_a, big_b), KEY)


@pytest.mark.parametrize("part", ["small", "big"])
def test_tampered_part_refused(part):
    small, big = split_bytes(encrypt_bytes(os.urandom(30_000), KEY))
    if part == "small":
        small = small[:100] + bytes([small[100] ^ 1]) + small[101:]
    else:
        big = big[:5000] + bytes([big[5000] ^ 0x80]) + big[5001:]
    with pytest.raises(DecryptionError):
        decrypt_bytes(join_bytes(small, big), KEY)
