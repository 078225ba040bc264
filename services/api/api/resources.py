"""The resource store: one file per resource in a folder, written atomically."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

from api.errors import ResourceError, TooLargeError
from azaion_shared.atomic import atomic_writer, private_folder

MAX_NAME_LENGTH = 128
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_name(name: str) -> str:
    """Resource names are plain file names: no folders, no hidden files, bounded length."""
    if len(name) > MAX_NAME_LENGTH:
        raise ResourceError(f"resource name longer than {MAX_NAME_LENGTH} characters")
    if not NAME_RE.fullmatch(name):
        raise ResourceError(f"invalid resource name {name[:60]!r}: use letters, digits, '.', '_' and '-'")
    return name


class ResourceStore:
    def __init__(self, folder: str | Path, max_bytes: int):
        self.folder = Path(folder)
        self.max_bytes = max_bytes

    def path(self, name: str) -> Path:
        return self.folder / check_name(name)

    async def save(self, name: str, chunks: AsyncIterator[bytes]) -> int:
        """Stream a body to disk; over ``max_bytes`` it is refused and nothing is kept."""
        target = self.path(name)
        private_folder(self.folder)
        size = 0
        with atomic_writer(target, mode=0o600) as fh:  # model parts: for the api's eyes only
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    raise TooLargeError(f"upload larger than the limit of {self.max_bytes} bytes")
                fh.write(chunk)
        return size
