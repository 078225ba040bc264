"""Cut an encrypted model in two and put it back together (DESIGN.md, "Model resources").

The **small** part is the first ``min(3 KiB, 20 %)`` of the encrypted bytes and
goes to the API; the **big** part is the rest and goes to the CDN. Neither is
usable alone. :func:`join` checks the sizes (the small part's length must be the
rule's, and the header inside it says how long the whole must be); the HMAC tag
at the end of the container then proves, on decryption, that the reassembled
bytes are exactly the ones that were encrypted.
"""

from __future__ import annotations

from pathlib import Path

from azaion_shared.atomic import atomic_write_bytes
from azaion_shared.crypto import HEADER_SIZE, encrypted_size, read_header
from azaion_shared.errors import DecryptionError

SMALL_MAX = 3 * 1024
SMALL_PERCENT = 20


def small_size(total: int) -> int:
    """Length of the small part for an encrypted model of ``total`` bytes."""
    return min(SMALL_MAX, total * SMALL_PERCENT // 100)


def split_bytes(encrypted: bytes) -> tuple[bytes, bytes]:
    cut = small_size(len(encrypted))
    return encrypted[:cut], encrypted[cut:]


def split_file(encrypted: str | Path, small_out: str | Path, big_out: str | Path) -> tuple[int, int]:
    """Write the two parts of an encrypted file (each atomically); returns their sizes."""
    encrypted = Path(encrypted)
    total = encrypted.stat().st_size
    cut = small_size(total)
    with open(encrypted, "rb") as fin:
        atomic_write_bytes(small_out, fin.read(cut))
        atomic_write_bytes(big_out, iter(lambda: fin.read(1024 * 1024), b""))
    return cut, total - cut


def expected_total(small: bytes, big_size: int) -> int:
    """Check the parts' sizes against each other and the header; returns the total size."""
    total = len(small) + big_size
    if len(small) != small_size(total):
        raise DecryptionError(
            f"model parts do not fit: the small part has {len(small)} bytes, "
            f"a {total}-byte model needs {small_size(total)} (wrong or mismatched parts)"
        )
    if len(small) >= HEADER_SIZE:
        _salt, plaintext_size = read_header(small)
        if encrypted_size(plaintext_size) != total:
            raise DecryptionError(
                f"model parts do not fit: the header says {encrypted_size(plaintext_size)} bytes in all, "
                f"the parts give {total} (a truncated or stale big part?)"
            )
    return total


def join_bytes(small: bytes, big: bytes) -> bytes:
    expected_total(small, len(big))
    return small + big


def join_files(small: bytes, big_path: str | Path, out: str | Path) -> Path:
    """Write small + big to ``out`` atomically after checking the sizes."""
    big_path = Path(big_path)
    expected_total(small, big_path.stat().st_size)

    def chunks():
        yield small
        with open(big_path, "rb") as fin:
            yield from iter(lambda: fin.read(1024 * 1024), b"")

    return atomic_write_bytes(out, chunks())
