"""Model encryption: AES-256-CBC (PKCS7) with encrypt-then-MAC (HMAC-SHA256), streaming.

Container, version 1 (all integers big-endian)::

    offset  size  field
    0       5     magic b"AZMDL"
    5       1     version (1)
    6       2     flags (0; reserved)
    8       16    salt: HKDF salt, fresh per encryption (it also identifies the publication)
    24      8     plaintext size in bytes
    32      16    IV
    48      n     ciphertext, n = (plaintext size // 16 + 1) * 16
    48+n    32    tag = HMAC-SHA256(mac key, bytes 0 .. 48+n)

The encryption and MAC keys are derived from the 32-byte model key with
HKDF-SHA256 (salt above, info ``azaion-model v1``). The tag covers header, IV
and ciphertext, so a wrong key, a truncated file, parts of two different
publications joined together, or any flipped bit are all refused, by one
error type, before a single plaintext byte is written.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import struct
import threading
import time
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from itertools import accumulate
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from azaion_shared import memfile
from azaion_shared.atomic import atomic_writer
from azaion_shared.errors import ConfigError, DecryptionError

MAGIC = b"AZMDL"
VERSION = 1
HEADER = struct.Struct(">5sBH16sQ")
HEADER_SIZE = HEADER.size  # 32
IV_SIZE = 16
TAG_SIZE = 32
BLOCK = 16
OVERHEAD = HEADER_SIZE + IV_SIZE + TAG_SIZE
CHUNK = 4 * 1024 * 1024
#: In-memory decryption beside a running pipeline: small calls, the GIL yielded between them.
GENTLE_CHUNK = 256 * 1024
KEY_SIZE = 32
KEY_ENV = "AZAION_MODEL_KEY"
KEY_FILE_ENV = "AZAION_MODEL_KEY_FILE"
_INFO = b"azaion-model v1"


def generate_key() -> str:
    """A new model key, base64 of 32 random bytes (the form AZAION_MODEL_KEY takes)."""
    return base64.b64encode(secrets.token_bytes(KEY_SIZE)).decode("ascii")


def parse_key(text: str, origin: str = KEY_ENV) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ConfigError(f"{origin} is not valid base64; generate one with `python -m azaion_shared keygen`") from None
    if len(key) != KEY_SIZE:
        raise ConfigError(f"{origin} must be base64 of {KEY_SIZE} bytes, it decodes to {len(key)} bytes")
    return key


def key_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether AZAION_MODEL_KEY or AZAION_MODEL_KEY_FILE is set (a plain model file needs neither)."""
    environ = os.environ if environ is None else environ
    return bool(environ.get(KEY_ENV) or environ.get(KEY_FILE_ENV))


def load_key(environ: Mapping[str, str] | None = None) -> bytes:
    """The model key from AZAION_MODEL_KEY, or from the file named by AZAION_MODEL_KEY_FILE."""
    environ = os.environ if environ is None else environ
    if environ.get(KEY_ENV):
        return parse_key(environ[KEY_ENV])
    if environ.get(KEY_FILE_ENV):
        path = Path(environ[KEY_FILE_ENV])
        try:
            return parse_key(path.read_text(encoding="ascii"), origin=f"{KEY_FILE_ENV} ({path})")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the model key file {path} named by {KEY_FILE_ENV}: {exc}") from exc
    raise ConfigError(f"no model key: set {KEY_ENV} (base64 of 32 bytes) or {KEY_FILE_ENV} (a file holding it)")


def _derive(key: bytes, salt: bytes) -> tuple[bytes, bytes]:
    if len(key) != KEY_SIZE:
        raise ConfigError(f"the model key must be {KEY_SIZE} bytes, got {len(key)}")
    okm = HKDF(algorithm=hashes.SHA256(), length=2 * KEY_SIZE, salt=salt, info=_INFO).derive(key)
    return okm[:KEY_SIZE], okm[KEY_SIZE:]


def encrypted_size(plaintext_size: int) -> int:
    return OVERHEAD + (plaintext_size // BLOCK + 1) * BLOCK


class _Pipeline:
    """Hands filled buffers to ``consume`` in a second thread, from a small pool of reusable buffers.

    The cipher, HMAC and file I/O all release the GIL, so on a machine with two
    cores producing (read + cipher) and consuming (MAC + write) overlap; memory
    stays at ``depth`` buffers whatever the file size.
    """

    def __init__(self, consume, size: int, depth: int = 3):
        import queue

        self._consume = consume
        self._free: queue.Queue = queue.Queue()
        self._full: queue.Queue = queue.Queue()
        for _ in range(depth):
            self._free.put(bytearray(size))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="azaion-crypto-io", daemon=True)

    def __enter__(self) -> _Pipeline:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            item = self._full.get()
            if item is None:
                return
            buf, n = item
            try:
                if self._error is None:
                    self._consume(memoryview(buf)[:n])
            except BaseException as exc:
                self._error = exc
            self._free.put(buf)

    def buffer(self) -> bytearray:
        if self._error is not None:
            raise self._error
        return self._free.get()

    def submit(self, buf: bytearray, n: int) -> None:
        self._full.put((buf, n))

    def drain(self) -> None:
        """Wait until every submitted buffer has been consumed (then stop the thread)."""
        self.__exit__(None, None, None)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._thread.is_alive():
            self._full.put(None)
            self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error


def encrypt_stream(src: BinaryIO, dst: BinaryIO, key: bytes, plaintext_size: int) -> int:
    """Encrypt ``plaintext_size`` bytes from ``src`` into ``dst`` in constant memory; returns bytes written.

    Buffers are allocated once and reused (``readinto``/``update_into``): allocating a
    fresh megabyte per chunk costs as much as the cipher itself.
    """
    salt = secrets.token_bytes(16)
    iv = secrets.token_bytes(IV_SIZE)
    enc_key, mac_key = _derive(key, salt)
    header = HEADER.pack(MAGIC, VERSION, 0, salt, plaintext_size)
    mac = hmac.new(mac_key, header + iv, "sha256")
    encryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
    dst.write(header + iv)
    inbuf = bytearray(CHUNK + BLOCK)  # room for the padding after the last chunk
    written = HEADER_SIZE + IV_SIZE

    def mac_and_write(block: memoryview) -> None:
        mac.update(block)
        dst.write(block)

    remaining = plaintext_size
    with _Pipeline(mac_and_write, CHUNK + 2 * BLOCK) as pipeline:
        while True:
            want = min(CHUNK, remaining)
            got = _read_exactly(src, memoryview(inbuf)[:want])
            if got < want:
                raise ValueError(f"input ended {remaining - got} bytes early (expected {plaintext_size} bytes)")
            remaining -= got
            if remaining == 0:  # PKCS7: 1..16 bytes of value n, a whole block when already aligned
                pad = BLOCK - got % BLOCK
                inbuf[got : got + pad] = bytes([pad]) * pad
                got += pad
            out = pipeline.buffer()
            n = encryptor.update_into(memoryview(inbuf)[:got], out)
            pipeline.submit(out, n)
            written += n
            if remaining == 0:
                break
    tail = encryptor.finalize()  # CBC keeps nothing back once the input is block-aligned
    mac.update(tail)
    dst.write(tail + mac.digest())
    return written + len(tail) + TAG_SIZE


def _read_exactly(src: BinaryIO, view: memoryview) -> int:
    got = 0
    while got < len(view):
        n = src.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def encrypt_file(src: str | Path, dst: str | Path, key: bytes) -> int:
    """Encrypt a file to ``dst`` (written atomically and durably); returns the encrypted size."""
    with open(src, "rb") as fin, atomic_writer(dst) as fout:
        return encrypt_stream(fin, fout, key, os.fstat(fin.fileno()).st_size)


def encrypt_bytes(data: bytes, key: bytes) -> bytes:
    import io

    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, key, len(data))
    return out.getvalue()


def read_header(prefix: bytes) -> tuple[bytes, int]:
    """(salt, plaintext size) from the first bytes of an encrypted model; DecryptionError if they are not one."""
    prefix = bytes(prefix[:HEADER_SIZE])
    if len(prefix) < HEADER_SIZE:
        raise DecryptionError(f"encrypted model too short: {len(prefix)} bytes, the header alone is {HEADER_SIZE}")
    magic, version, _flags, salt, size = HEADER.unpack_from(prefix)
    if magic != MAGIC:
        raise DecryptionError("not an encrypted Azaion model (bad magic bytes)")
    if version != VERSION:
        raise DecryptionError(f"encrypted model has container version {version}; this build reads {VERSION}")
    return salt, size


def _check_size(total: int, plaintext_size: int) -> None:
    expected = encrypted_size(plaintext_size)
    if total != expected:
        what = "truncated" if total < expected else "has extra bytes"
        raise DecryptionError(
            f"encrypted model {what}: {total} bytes, its header says {expected} "
            "(tampered, truncated, or mismatched parts)"
        )


AUTH_FAILED = (
    "encrypted model failed authentication: wrong model key, or the file was modified "
    "(tampered, corrupted, or assembled from parts of different publications)"
)


def _verify_and_keys(view_at, total: int, key: bytes) -> tuple[bytes, int, bytes]:
    """Verify the tag over the whole container; returns (encryption key, plaintext size, IV)."""
    if total < HEADER_SIZE:
        raise DecryptionError(f"encrypted model too short: {total} bytes, the header alone is {HEADER_SIZE}")
    salt, plaintext_size = read_header(bytes(view_at(0, HEADER_SIZE)))
    _check_size(total, plaintext_size)
    iv = bytes(view_at(HEADER_SIZE, IV_SIZE))
    enc_key, mac_key = _derive(key, salt)
    mac = hmac.new(mac_key, digestmod="sha256")
    for chunk in _chunks(view_at, 0, total - TAG_SIZE):
        mac.update(chunk)
    if not hmac.compare_digest(mac.digest(), bytes(view_at(total - TAG_SIZE, TAG_SIZE))):
        raise DecryptionError(AUTH_FAILED)
    return enc_key, plaintext_size, iv


def _chunks(view_at, start: int, end: int, size: int = CHUNK, gentle: bool = False) -> Iterator[memoryview]:
    """Chunks of ``size``; ``gentle``: yield the GIL after each one (``time.sleep(0)``), so that a model
    decrypted in memory beside a running pipeline never holds up its frames (the AES binding keeps the
    GIL for a whole call)."""
    position = start
    while position < end:
        if gentle and position > start:
            time.sleep(0)
        chunk = view_at(position, min(size, end - position))
        if not len(chunk):
            raise DecryptionError("encrypted model changed size while being read")
        position += len(chunk)
        yield chunk


def _decrypt_chunks(
    view_at,
    total: int,
    enc_key: bytes,
    iv: bytes,
    plaintext_size: int,
    new_buffer,
    size: int = CHUNK,
    gentle: bool = False,
):
    """Yield (buffer, length) of plaintext; call only after :func:`_verify_and_keys` succeeded."""
    decryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
    produced = 0
    for chunk in _chunks(view_at, HEADER_SIZE + IV_SIZE, total - TAG_SIZE, size, gentle):
        buf = new_buffer()
        n = decryptor.update_into(chunk, buf)
        keep = min(n, plaintext_size - produced)  # drops the padding at the end
        produced += keep
        yield buf, keep
    decryptor.finalize()
    if produced != plaintext_size:
        raise DecryptionError(f"decrypted {produced} bytes, the header says {plaintext_size}")


def _streaming_writer(fout, durable: bool):
    """``fout.write``; when the file must be durable, each chunk's writeback is also started at once
    (``POSIX_FADV_DONTNEED`` on Linux starts it without waiting), so the final fsync finds little left."""
    if not durable or not hasattr(os, "posix_fadvise"):
        return fout.write
    position = 0

    def write(block: memoryview) -> None:
        nonlocal position
        fout.write(block)
        fout.flush()
        os.posix_fadvise(fout.fileno(), position, len(block), os.POSIX_FADV_DONTNEED)
        position += len(block)

    return write


def decrypt_file(src: str | Path, dst: str | Path, key: bytes, *, durable: bool = True) -> int:
    """Verify and decrypt ``src`` to ``dst`` in one pass; returns the plaintext size.

    Each byte is read once: the same buffer is MAC'd and decrypted, so a file that changes while it is
    read cannot yield plaintext other than what the tag covers. The plaintext goes to a private (0600)
    temporary file in ``dst``'s folder and gets its name only after the tag has verified; on any
    failure the temporary file is removed and nothing is left. ``durable=False`` skips the fsyncs,
    for plaintext that is a disposable cache of the encrypted file.
    """
    src, dst = Path(src), Path(dst)
    with open(src, "rb", buffering=0) as fin:
        total = os.fstat(fin.fileno()).st_size
        if total == 0:
            raise DecryptionError(f"{src} is empty, not an encrypted model")
        head = bytearray(HEADER_SIZE + IV_SIZE)
        if _read_exactly(fin, memoryview(head)) < len(head):
            raise DecryptionError(f"encrypted model too short: {total} bytes, the header alone is {HEADER_SIZE}")
        salt, plaintext_size = read_header(bytes(head))
        _check_size(total, plaintext_size)  # before any file is created
        enc_key, mac_key = _derive(key, salt)
        mac = hmac.new(mac_key, head, "sha256")
        decryptor = Cipher(algorithms.AES(enc_key), modes.CBC(bytes(head[HEADER_SIZE:]))).decryptor()
        produced = 0
        remaining = total - len(head) - TAG_SIZE
        # Three stages on three threads: read + decrypt here, the MAC over the same ciphertext buffer in
        # one thread, the plaintext's writes in another. A ciphertext buffer goes back to its pool only
        # after the MAC has consumed it, so each byte is read once and MAC'd as it was decrypted.
        with (
            atomic_writer(dst, sync=durable, mode=0o600) as fout,
            _Pipeline(_streaming_writer(fout, durable), CHUNK + BLOCK, depth=4) as writes,
            _Pipeline(mac.update, CHUNK, depth=4) as macs,
        ):
            while remaining:
                inbuf = macs.buffer()
                got = _read_exactly(fin, memoryview(inbuf)[: min(CHUNK, remaining)])
                if not got:
                    raise DecryptionError("encrypted model changed size while being read")
                out = writes.buffer()
                n = decryptor.update_into(memoryview(inbuf)[:got], out)
                macs.submit(inbuf, got)
                keep = min(n, plaintext_size - produced)  # drops the padding at the end
                produced += keep
                writes.submit(out, keep)
                remaining -= got
            decryptor.finalize()
            macs.drain()
            tag = bytearray(TAG_SIZE)
            if _read_exactly(fin, memoryview(tag)) < TAG_SIZE or fin.read(1):
                raise DecryptionError("encrypted model changed size while being read")
            if not hmac.compare_digest(mac.digest(), bytes(tag)):
                raise DecryptionError(AUTH_FAILED)
            if produced != plaintext_size:
                raise DecryptionError(f"decrypted {produced} bytes, the header says {plaintext_size}")
    return plaintext_size


def decrypt_bytes(blob: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Verify and decrypt an in-memory container (the plaintext never touches the disk)."""
    return decrypt_parts([blob], key)


def decrypt_parts(parts: Sequence[bytes | bytearray | memoryview], key: bytes) -> bytes:
    """:func:`decrypt_bytes` of the parts' concatenation (a model's small and big parts), without ever
    holding the GIL for a copy of the whole: the parts are not joined, and the plaintext gathers in an
    anonymous memory file (RAM only) that one read turns into bytes, both without the GIL. A 10 MB copy
    holds it for milliseconds, and for much longer in a low-priority thread that the scheduler stops
    while it holds it (measured: up to 15 ms for the frames of a running model)."""
    if not memfile.AVAILABLE:  # not Linux: gathered in memory, one copy at the end
        out = bytearray()
        for buf, n in _decrypted_parts(parts, key)[1]:
            out += memoryview(buf)[:n]
        return bytes(out)
    with memfile.memory_file("plaintext") as (_, fd):
        size = decrypt_parts_into(parts, key, fd)
        return memfile.read_all(fd, size)


def decrypt_parts_into(parts: Sequence[bytes | bytearray | memoryview], key: bytes, fd: int) -> int:
    """:func:`decrypt_parts` written to the file ``fd`` (an anonymous memory file: the plaintext stays in
    RAM, and another process may be handed it without a copy); returns the plaintext's size. Nothing is
    written unless the container's tag verifies."""
    size, chunks = _decrypted_parts(parts, key)
    for buf, n in chunks:
        memfile.write_all(fd, memoryview(buf)[:n])
    return size


def _decrypted_parts(parts, key: bytes):
    """(plaintext size, chunks of plaintext) of the parts' concatenation, its tag verified first."""
    views = [memoryview(part).cast("B") for part in parts]
    starts = [0, *accumulate(len(v) for v in views)]
    total = starts[-1]

    def view_at(offset: int, size: int) -> memoryview:
        index = bisect_right(starts, offset) - 1
        local = offset - starts[index]
        if index < len(views) and local + size <= len(views[index]):
            return views[index][local : local + size]
        pieces = []  # across a boundary between parts: only these few bytes are copied
        while size > 0 and index < len(views):
            piece = views[index][local : local + size]
            pieces.append(piece)
            size -= len(piece)
            index, local = index + 1, 0
        return memoryview(b"".join(pieces))

    enc_key, plaintext_size, iv = _verify_and_keys(view_at, total, key)
    scratch = bytearray(GENTLE_CHUNK + BLOCK)
    return plaintext_size, _decrypt_chunks(  # which checks the size at the end
        view_at, total, enc_key, iv, plaintext_size, lambda: scratch, GENTLE_CHUNK, True
    )
