"""Anonymous memory files (Linux memfd): RAM only, private to this process, gone with their last
descriptor. Used where a library wants a path and the bytes must not touch the disk (ONNX Runtime,
RKNNLite), and where a large copy should be the kernel's, made without holding the GIL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

AVAILABLE = hasattr(os, "memfd_create")


def new(name: str) -> int:
    """The descriptor of a new, empty anonymous memory file (the caller closes it; not inherited by
    programs this process starts, though it may be passed to one)."""
    return os.memfd_create(name, os.MFD_CLOEXEC)


@contextmanager
def memory_file(name: str, data: bytes | bytearray | memoryview = b"") -> Iterator[tuple[str, int]]:
    """An anonymous memory file holding ``data``: its path (``/proc/self/fd/N``) and descriptor."""
    fd = new(name)
    try:
        write_all(fd, data)
        yield f"/proc/self/fd/{fd}", fd
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


def read_all(fd: int, size: int | None = None) -> bytes:
    """The file's first ``size`` bytes (all of it by default), or fewer where it ends sooner."""
    size = os.fstat(fd).st_size if size is None else size
    pieces, offset = [], 0
    while offset < size:
        piece = os.pread(fd, size - offset, offset)
        if not piece:
            break
        pieces.append(piece)
        offset += len(piece)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)
