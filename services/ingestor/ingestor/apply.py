"""Applies decoded messages to the data root, idempotently, in batches (group commit).

A batch is applied in four steps:

1. *stage* (in parallel): every annotation's image is checked and its image and
   label are written to ``.staging/{owner}/`` under the data root, stamped (below);
2. *flush*: one ``syncfs`` makes all staged bytes durable at once (or an fsync
   per file where ``syncfs`` is not available) - one journal commit per batch
   instead of two per message;
3. *apply* (in stream order): staged files are renamed into place, bulk
   messages move pairs; renames never expose a file whose bytes are not durable;
4. the folders touched are fsynced; then the caller may advance the checkpoint.

Replaying any suffix of the stream must leave the same files. Overwriting with
the same bytes is harmless, but a replayed *move* could act on a newer version:
Created(v1) -> Deleted -> Edited(v2) replayed from the Deleted would move v2
into data_deleted/. So every image and label carries, in the extended attribute
``user.azaion.offset``, the offset of the message that wrote it (set before the
file gets its name, moved with it), and a message at offset O acts on a pair
only when the pair was written before O. A replayed message therefore never
touches what a later message wrote, whatever point the crash left things at.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from azaion_shared.atomic import (
    DEFAULT_TEMP_MAX_AGE,
    atomic_write_bytes,
    atomic_write_text,
    fsync_dir,
    move_pair,
    remove_if_abandoned,
    syncfs,
)
from azaion_shared.boxes import correct_box
from azaion_shared.labels import Box, format_labels
from azaion_shared.messages import Annotation, AnnotationStatus
from azaion_shared.owners import Owner, current_owner
from azaion_shared.paths import REJECTED_RAW_SUFFIX, REJECTED_REASON_SUFFIX, DataRoot, PairDir, rejected_stem
from azaion_shared.roles import is_trusted
from azaion_shared.tasks import AugmentTask
from ingestor.decode import Decoded
from ingestor.errors import InapplicableError
from ingestor.images import check_jpeg

log = logging.getLogger(__name__)

OFFSET_XATTR = "user.azaion.offset"
#: Stamps are (epoch << EPOCH_SHIFT) | offset: a newer epoch outranks any offset of an older one.
EPOCH_SHIFT = 48
STAGING = ".staging"


@dataclass
class BatchOutcome:
    applied: int = 0
    rejected: int = 0
    tasks: list[AugmentTask] = field(default_factory=list)
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Staged:
    image: Path
    label: Path


class Applier:
    def __init__(
        self,
        root: DataRoot,
        min_box_size: float = 0.002,
        full_image_check: bool = True,
        max_image_pixels: int = 100_000_000,
        workers: int = 4,
        use_syncfs: bool = True,
    ):
        self.root = root
        self.min_box_size = min_box_size
        self.full_image_check = full_image_check
        self.max_image_pixels = max_image_pixels
        self.workers = workers
        self.use_syncfs = use_syncfs
        self.epoch = 0  # set by the service from the checkpoint
        self._executor: ThreadPoolExecutor | None = None

    @property
    def staging(self) -> Path:
        """``.staging/{owner tag}/``: this process's own staging folder (see azaion_shared.owners)."""
        return self.root.root / STAGING / current_owner().tag

    def clean_staging(self, max_age: float = DEFAULT_TEMP_MAX_AGE) -> int:
        """Remove what interrupted batches staged: this process's folder and those of ingestors that are
        provably gone (or untouched for ``max_age`` seconds); another live ingestor's folder is kept.
        Returns how many entries were removed."""
        removed = 0
        folder = self.root.root / STAGING
        for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
            if remove_if_abandoned(entry, max_age, owner=Owner.parse(entry.name)):
                removed += 1
            else:
                log.warning("kept %s: the ingestor that staged it may still be running", entry)
        return removed

    def apply_batch(self, batch: list[Decoded]) -> BatchOutcome:
        self.staging.mkdir(parents=True, exist_ok=True)
        staged = list(self._pool().map(self._stage, batch)) if len(batch) > 1 else [self._stage(batch[0])]
        self._flush([s for s in staged if isinstance(s, Staged)])
        outcome = BatchOutcome()
        touched: set[Path] = set()
        for item, prepared in zip(batch, staged, strict=True):
            if item.message is None or isinstance(prepared, str):
                self.reject(item, item.reason if item.message is None else prepared, touched)
                outcome.rejected += 1
                continue
            outcome.tasks.extend(self._apply(item.message, item.offset, prepared, touched))
            outcome.applied += 1
            status = item.message.status.wire_name
            outcome.by_status[status] = outcome.by_status.get(status, 0) + 1
        for folder in sorted(touched):
            fsync_dir(folder)
        return outcome

    def _pool(self) -> ThreadPoolExecutor:
        # JPEG decoding and file writes release the GIL: a few threads overlap them.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ingestor-stage")
        return self._executor

    # --- staging --------------------------------------------------------------------------
    def _stage(self, item: Decoded) -> Staged | str | None:
        """Staged files for an annotation, the reason it is refused, or None for other messages."""
        message = item.message
        if not isinstance(message, Annotation):
            return None
        try:
            check_jpeg(message.image, self.full_image_check, self.max_image_pixels)
            label = format_labels(self._boxes(message))
        except InapplicableError as exc:
            return str(exc)
        stamp = {OFFSET_XATTR: str(self.position(item.offset)).encode()}
        base = self.staging / f"{item.offset}-{message.name}"
        staged = Staged(base.with_name(base.name + ".jpg"), base.with_name(base.name + ".txt"))
        for path, data in ((staged.image, message.image), (staged.label, label.encode())):
            with open(path, "wb") as fh:
                fh.write(data)
                for key, value in stamp.items():
                    os.setxattr(fh.fileno(), key, value)
                if not self.use_syncfs:
                    fh.flush()
                    os.fsync(fh.fileno())
        return staged

    def _flush(self, staged: list[Staged]) -> None:
        if staged and self.use_syncfs and not syncfs(self.staging):
            for item in staged:  # no syncfs on this platform: one fsync per file
                for path in (item.image, item.label):
                    with open(path, "rb+") as fh:
                        os.fsync(fh.fileno())

    # --- rejected messages ----------------------------------------------------------------
    def reject(self, item: Decoded, reason: str, touched: set[Path]) -> None:
        folder = self.root.rejected
        folder.mkdir(parents=True, exist_ok=True)
        stem = rejected_stem(self.epoch, item.offset, item.raw)
        atomic_write_bytes(folder / f"{stem}{REJECTED_RAW_SUFFIX}", item.raw, sync_dir=False)
        atomic_write_text(
            folder / f"{stem}{REJECTED_REASON_SUFFIX}",
            f"offset {item.offset} (stream epoch {self.epoch}): {reason}\n",
            sync_dir=False,
        )
        touched.add(folder)
        log.warning(
            "rejected message at offset %d (kept as data-rejected/%s.*): %s",
            item.offset,
            stem,
            reason,
            extra={"offset": item.offset},
        )

    # --- the operations -------------------------------------------------------------------
    def position(self, offset: int) -> int:
        return (self.epoch << EPOCH_SHIFT) | offset

    def _apply(self, message, offset: int, staged: Staged | None, touched: set[Path]) -> list[AugmentTask]:
        offset = self.position(offset)  # from here on, "offset" orders across epochs
        if isinstance(message, Annotation):
            return self._place_annotation(message, offset, staged, touched)
        if message.status == AnnotationStatus.VALIDATED:
            return self._validate(message.names, offset, touched)
        return self._delete(message.names, offset, touched)

    def _boxes(self, message: Annotation) -> list[Box]:
        kept = []
        for number, det in enumerate(message.detections, start=1):
            box = Box(det.class_num, det.center_x, det.center_y, det.width, det.height)
            if box.w <= 0 or box.h <= 0:
                raise InapplicableError(f"detection {number} has zero or negative size ({box.w}, {box.h})")
            if correct_box(box, min_size=0.0) is None:
                raise InapplicableError(
                    f"detection {number} lies outside the image after correction "
                    f"(cx={box.cx}, cy={box.cy}, w={box.w}, h={box.h}; coordinates must be normalised to 0..1)"
                )
            corrected = correct_box(box, self.min_box_size)
            if corrected is None:
                log.info(
                    "%s: dropped detection %d, smaller than %s after clipping", message.name, number, self.min_box_size
                )
                continue
            kept.append(corrected)
        return kept

    def _place_annotation(self, message: Annotation, offset: int, staged: Staged, touched) -> list[AugmentTask]:
        name = message.name
        data, seed = self.root.data, self.root.seed
        if max(written_whole_at(data, name), written_whole_at(seed, name)) >= offset:
            log.debug("%s: offset %d already applied or superseded", name, offset)
            staged.image.unlink(missing_ok=True)
            staged.label.unlink(missing_ok=True)
            return [AugmentTask(name=name, action="upsert")] if _has(data, name) else []
        by_role = data if is_trusted(message.role) else seed
        if message.status == AnnotationStatus.EDITED:
            # Edited replaces the pair where it is now; an edit of an unknown name is written by role.
            target = data if _has(data, name) else seed if _has(seed, name) else by_role
        else:
            target = by_role
        other = seed if target is data else data
        target.ensure()
        os.replace(staged.image, target.image(name))  # its bytes were made durable by the flush
        os.replace(staged.label, target.label(name))
        touched.update((target.images, target.labels))
        tasks = []
        if _has(other, name) or other.label(name).exists():
            # One live copy per name: a re-created annotation replaces the one in the other folder.
            for path in (other.image(name), other.label(name)):
                path.unlink(missing_ok=True)
            touched.update((other.images, other.labels))
            if other is data:
                tasks.append(AugmentTask(name=name, action="delete"))
        if target is data:
            tasks.append(AugmentTask(name=name, action="upsert"))
        return tasks

    def _validate(self, names, offset: int, touched: set[Path]) -> list[AugmentTask]:
        data, seed = self.root.data, self.root.seed
        tasks = []
        for name in names:
            moved = written_at(seed, name) < offset and move_pair(
                seed.image(name), seed.label(name), data.image(name), data.label(name), sync_dirs=False
            )
            if moved:
                touched.update((seed.images, seed.labels, data.images, data.labels))
            if _has(data, name):
                tasks.append(AugmentTask(name=name, action="upsert"))
            else:
                log.warning("Validated names %s, which is in neither data-seed/ nor data/", name)
        return tasks

    def _delete(self, names, offset: int, touched: set[Path]) -> list[AugmentTask]:
        deleted = self.root.deleted.ensure()
        tasks = []
        for name in names:
            for source in (self.root.seed, self.root.data):
                if written_at(source, name) < offset and move_pair(
                    source.image(name),
                    source.label(name),
                    deleted.image(name),
                    deleted.label(name),
                    sync_dirs=False,
                ):
                    touched.update((source.images, source.labels, deleted.images, deleted.labels))
            # Always: a replay must not lose the augmentor's clean-up if the first task was lost.
            tasks.append(AugmentTask(name=name, action="delete"))
        return tasks


def _has(pair_dir: PairDir, name: str) -> bool:
    return pair_dir.image(name).exists()


def _stamp(path: Path) -> int | None:
    """The offset stamped on a file; None when the file does not exist, -1 when it has no stamp."""
    try:
        return int(os.getxattr(path, OFFSET_XATTR))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # no stamp (copied in by hand), or a filesystem without user xattrs
        return -1


def _pair_stamps(pair_dir: PairDir, name: str) -> list[int | None]:
    return [_stamp(pair_dir.image(name)), _stamp(pair_dir.label(name))]


def written_at(pair_dir: PairDir, name: str) -> int:
    """Offset of the message that wrote the pair; -1 when absent or unstamped.

    A pair is as old as its older file: after a crash between the image and the
    label, the half-written pair counts as not yet written by the new message.
    """
    present = [s for s in _pair_stamps(pair_dir, name) if s is not None]
    return min(present) if present else -1


def written_whole_at(pair_dir: PairDir, name: str) -> int:
    """Like :func:`written_at`, but -1 unless both files exist: an annotation always writes both, so an
    image without its label is a write that a kill interrupted between the two renames, and replaying
    that message must finish it (moves still order by :func:`written_at`)."""
    stamps = _pair_stamps(pair_dir, name)
    return min(stamps) if None not in stamps else -1


def xattrs_supported(folder: Path) -> bool:
    """Whether ``folder``'s filesystem keeps user extended attributes (replay safety relies on them)."""
    probe = folder / ".azaion-xattr-probe"
    try:
        probe.write_bytes(b"")
        os.setxattr(probe, OFFSET_XATTR, b"1")
        return os.getxattr(probe, OFFSET_XATTR) == b"1"
    except OSError:
        return False
    finally:
        probe.unlink(missing_ok=True)


def ingestor_folders(root: DataRoot) -> tuple[Path, ...]:
    """The folders only the ingestor writes (besides its checkpoint in the root itself)."""
    return (root.data.path, root.seed.path, root.deleted.path, root.rejected)
