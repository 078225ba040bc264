"""Crash-safe files: a file under its final name is always complete.

Writes go to a temporary file in the same folder, are flushed and fsynced,
then renamed over the final name, and the folder is fsynced so the rename
itself survives power loss. Temporary files carry :data:`TEMP_SUFFIX` and their
writer's owner tag (:mod:`azaion_shared.owners`), so that :func:`clean_temp_files`
removes what a crash left behind and never what another live process is writing.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from azaion_shared.errors import AtomicWriteError
from azaion_shared.owners import Owner, current_owner

TEMP_SUFFIX = ".azaion-tmp"
#: Temporary files of owners that cannot be checked are removed once untouched for this long.
DEFAULT_TEMP_MAX_AGE = 3600.0


def fsync_dir(folder: str | Path) -> None:
    """Make the folder's entries (creates, renames, unlinks) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path_for(path: Path) -> Path:
    """``.{name}.{owner tag}.{random}.azaion-tmp`` beside ``path``: a file or a folder being made."""
    return path.with_name(f".{path.name}.{current_owner().tag}.{secrets.token_hex(3)}{TEMP_SUFFIX}")


def temp_owner(path: Path) -> Owner | None:
    """The owner a temporary name carries; None for a name without a tag (an older version's)."""
    parts = path.name[: -len(TEMP_SUFFIX)].rsplit(".", 2)
    return Owner.parse(parts[1]) if len(parts) == 3 else None


def is_abandoned(path: Path, max_age: float = DEFAULT_TEMP_MAX_AGE, owner: Owner | None = None) -> bool:
    """Whether a temporary file or folder may be removed: ours, its owner provably gone, or older than
    ``max_age`` seconds when its owner cannot be checked (see :mod:`azaion_shared.owners`)."""
    owner = owner or temp_owner(path)
    if owner is not None and (owner == current_owner() or owner.is_gone()):
        return True
    try:
        age = time.time() - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    return age > max_age


@contextmanager
def atomic_writer(path: str | Path, *, sync: bool = True, sync_dir: bool = True, mode: int = 0o666):
    """A binary file to write ``path`` through: a temporary file beside it, renamed onto ``path``
    when the block ends without an error (after an fsync unless ``sync`` is False), removed when
    it raises. ``mode`` applies to the new file (0o600 for plaintext models)."""
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as fh:
            yield fh
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        if sync and sync_dir:
            fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(
    path: str | Path,
    data: bytes | Iterable[bytes],
    *,
    sync_dir: bool = True,
    xattrs: dict[str, bytes] | None = None,
    mode: int = 0o666,
) -> Path:
    """Write ``data`` (bytes or an iterable of chunks) to ``path`` atomically and durably.

    ``xattrs`` are set on the file before it gets its final name, so they appear
    together with the content (the ingestor stamps each file with the stream
    offset that wrote it).
    """
    path = Path(path)
    try:
        with atomic_writer(path, sync_dir=sync_dir, mode=mode) as fh:
            if isinstance(data, (bytes, bytearray, memoryview)):
                fh.write(data)
            else:
                for chunk in data:
                    fh.write(chunk)
            for key, value in (xattrs or {}).items():
                os.setxattr(fh.fileno(), key, value)
    except OSError as exc:
        raise AtomicWriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def atomic_write_text(
    path: str | Path, text: str, *, sync_dir: bool = True, xattrs: dict[str, bytes] | None = None
) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), sync_dir=sync_dir, xattrs=xattrs)


def private_folder(folder: str | Path, *, enforce: bool = False) -> Path:
    """Create ``folder`` (and parents) as 0700 whatever the umask. An existing folder is made 0700 only with
    ``enforce`` (a folder that belongs to the service, such as the edge cache), else left as an operator made it."""
    folder = Path(folder)
    if enforce or not folder.exists():
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    return folder


def private_file(path: str | Path, create: bool = True) -> None:
    """Make ``path`` 0600 (creating it empty when asked), whatever the umask."""
    path = Path(path)
    if create and not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if path.exists():
        os.chmod(path, 0o600)


def atomic_move(src: str | Path, dst: str | Path, *, sync_dirs: bool = True) -> None:
    """Move ``src`` onto ``dst`` atomically (replacing it); both folders are fsynced unless told not to
    (a caller applying a batch fsyncs every folder it touched once, at the end).

    Across filesystems the file is copied atomically to ``dst`` first and the
    source removed only after the copy is durable.
    """
    src, dst = Path(src), Path(dst)
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise AtomicWriteError(f"cannot move {src} to {dst}: {exc.strerror or exc}") from exc
        _copy_then_unlink(src, dst)
    if not sync_dirs:
        return
    try:
        fsync_dir(dst.parent)
        if src.parent != dst.parent:
            fsync_dir(src.parent)
    except OSError as exc:
        raise AtomicWriteError(f"cannot sync folders after moving {src} to {dst}: {exc}") from exc


def _copy_then_unlink(src: Path, dst: Path) -> None:
    tmp = temp_path_for(dst)
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
        src.unlink()
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AtomicWriteError(f"cannot move {src} to {dst} across filesystems: {exc}") from exc


def move_pair(image_src: Path, label_src: Path, image_dst: Path, label_dst: Path, *, sync_dirs: bool = True) -> bool:
    """Move an image/label pair; idempotent, so a replay after a crash finishes a half-done move.

    Returns True when something was moved, False when neither source exists
    (already moved, or never there). A missing label is tolerated: the image
    still moves (an image with no boxes is a valid negative example).
    """
    moved = False
    for src, dst in ((image_src, image_dst), (label_src, label_dst)):
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            atomic_move(src, dst, sync_dirs=sync_dirs)
            moved = True
    return moved


def remove_if_abandoned(path: Path, max_age: float = DEFAULT_TEMP_MAX_AGE, owner: Owner | None = None) -> bool:
    """Remove the temporary file or folder ``path`` when :func:`is_abandoned` says so; returns whether it did."""
    if not is_abandoned(path, max_age, owner):
        return False
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return True


@dataclass
class Cleaned:
    removed: int = 0
    kept: int = 0  # temporary files of owners that may still be writing them

    def __str__(self) -> str:
        return f"removed {self.removed} abandoned temporary files, kept {self.kept} of live writers"


def clean_temp_files(folder: str | Path, recursive: bool = True, max_age: float = DEFAULT_TEMP_MAX_AGE) -> Cleaned:
    """Remove the temporary files (and folders) that crashed writers left behind, and only those:
    see :func:`is_abandoned`. Safe to run while other processes write into ``folder``."""
    folder = Path(folder)
    cleaned = Cleaned()
    if not folder.is_dir():
        return cleaned
    pattern = f"**/.*{TEMP_SUFFIX}" if recursive else f".*{TEMP_SUFFIX}"
    for tmp in sorted(folder.glob(pattern), key=lambda p: len(p.parts)):
        if not tmp.exists():  # inside a temporary folder removed a moment ago
            continue
        if remove_if_abandoned(tmp, max_age):
            cleaned.removed += 1
        else:
            cleaned.kept += 1
    return cleaned


# --- group commit: many files made durable with one syncfs -------------------------------------


def _load_syncfs():
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


def syncfs(folder: str | Path) -> bool:
    """Flush every dirty page of ``folder``'s filesystem (Linux ``syncfs``); False where unavailable."""
    if _SYNCFS is None:
        return False
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _SYNCFS(fd) != 0:
            import ctypes

            raise AtomicWriteError(f"syncfs failed on {folder}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)
    return True


def stage_bytes(path: str | Path, data: bytes) -> tuple[Path, Path]:
    """Write ``data`` to a temporary file beside ``path`` without syncing; commit it with :func:`commit_staged`."""
    path = Path(path)
    tmp = temp_path_for(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
    return tmp, path


def commit_staged(staged: list[tuple[Path, Path]]) -> None:
    """Make staged files durable (one syncfs, or an fsync each), then rename them into place, in order.

    Writing many small files this way costs one journal commit instead of one
    per file, and no final name ever points at bytes that are not on disk.
    """
    if not staged:
        return
    if not syncfs(staged[0][0].parent):
        for tmp, _final in staged:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
    for tmp, final in staged:
        os.replace(tmp, final)
    for folder in sorted({final.parent for _tmp, final in staged}):
        fsync_dir(folder)
