"""One annotation in, the original and its seven variants out, complete or absent.

Outputs go to ``data-processed/images/{name}.jpg`` and ``{name}+1.jpg`` ...
``{name}+7.jpg`` (labels alike; names from :func:`azaion_shared.paths.variant_stem`),
each written atomically; a :class:`~azaion_shared.paths.CompletionMarker` is written
last and removed first when the outputs are redone. Readers (the trainer) use a
name only when its marker exists. The marker records the source's size and mtime,
the transform configuration and the naming scheme, so an unchanged annotation is
skipped and an edited one redone; outputs of the old naming (``{name}_{i}``) count
as stale, are redone by reconciliation and then removed.

A file lock per name (``.locks/{name}.lock``, POSIX ``lockf``, which also works
across hosts on NFS) keeps two replicas from processing one image at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from augmentor.errors import UnreadableImageError
from augmentor.settings import AugmentorOptions
from augmentor.transforms import VARIANT_NAMES, apply_variant, build_variants, variant_seed
from azaion_shared.atomic import atomic_write_text, commit_staged, fsync_dir, stage_bytes
from azaion_shared.boxes import correct_boxes
from azaion_shared.errors import LabelError
from azaion_shared.faults import pause_point
from azaion_shared.labels import Box, format_labels, read_labels
from azaion_shared.paths import (
    LEGACY_VARIANT_SEPARATOR,
    OUTPUT_SCHEME,
    VARIANT_COUNT,
    CompletionMarker,
    DataRoot,
    variant_stem,
)

log = logging.getLogger(__name__)

assert len(VARIANT_NAMES) == VARIANT_COUNT, "the data-root contract names seven variants"


@dataclass
class Result:
    name: str
    status: str  # processed | skipped | failed | removed | absent
    variants: int = 0
    seconds: float = 0.0
    codec_seconds: float = 0.0  # JPEG decode + encode
    transform_seconds: float = 0.0
    reason: str = ""
    skipped_variants: list[str] = field(default_factory=list)


def config_id(options: AugmentorOptions) -> str:
    """Changes when anything that shapes the outputs changes (then everything is redone)."""
    relevant = {
        "seed": options.seed,
        "jpeg_quality": options.jpeg_quality,
        "min_box_size": options.min_box_size,
        "transforms": options.transforms.model_dump(),
        "variants": VARIANT_NAMES,
        "scheme": OUTPUT_SCHEME,  # outputs named the old way are redone, then removed
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


class Processor:
    def __init__(self, root: DataRoot, options: AugmentorOptions):
        self.root = root
        self.options = options
        self.config = config_id(options)
        self.variants = build_variants(options.transforms)
        self.out = root.processed
        self.markers = self.out.markers
        self.failed = self.out.failed
        self.locks = self.out.locks

    def ensure(self) -> Processor:
        self.out.ensure()
        return self

    # --- state ----------------------------------------------------------------------------
    def source_state(self, name: str) -> dict | None:
        image = self.root.data.image(name)
        try:
            stat = image.stat()
        except FileNotFoundError:
            return None
        state = {"image": [stat.st_size, stat.st_mtime_ns], "label": None}
        try:
            label = self.root.data.label(name).stat()
            state["label"] = [label.st_size, label.st_mtime_ns]
        except FileNotFoundError:
            pass
        return state

    def _read_json(self, path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def marker(self, name: str) -> CompletionMarker | None:
        return self.out.read_marker(name)

    def is_current(self, name: str, state: dict | None = None) -> bool:
        state = state if state is not None else self.source_state(name)
        marker = self.marker(name)
        return bool(marker and state and marker.source == state and marker.config == self.config)

    def failed_before(self, name: str, state: dict) -> bool:
        failure = self._read_json(self.failed / f"{name}.json")
        return bool(failure and failure.get("source") == state)

    def needs_work(self, name: str) -> bool:
        state = self.source_state(name)
        if state is None:
            return self.marker(name) is not None or self.out.image(name).exists()
        return not self.is_current(name, state) and not self.failed_before(name, state)

    # --- the work -------------------------------------------------------------------------
    @contextmanager
    def lock(self, name: str):
        self.locks.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.options.lock_timeout
        try:
            while True:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"{name} is locked by another replica for {self.options.lock_timeout} s"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # releases the lock

    def process(self, name: str) -> Result:
        """Bring ``name``'s outputs in line with data/: (re)generate, skip, or remove them."""
        started = time.perf_counter()
        with self.lock(name):
            state = self.source_state(name)
            if state is None:
                removed = self.remove_outputs(name)
                return Result(name, "removed" if removed else "absent", seconds=time.perf_counter() - started)
            if self.is_current(name, state):
                return Result(name, "skipped", variants=len(self.marker(name).variants))
            if self.failed_before(name, state):
                return Result(name, "skipped", reason="failed before and unchanged since")
            try:
                result = self._generate(name, state)
            except (UnreadableImageError, LabelError) as exc:  # a label that cannot be read: set aside as well
                self._set_aside(name, state, str(exc))
                return Result(name, "failed", seconds=time.perf_counter() - started, reason=str(exc))
        result.seconds = time.perf_counter() - started
        return result

    def _generate(self, name: str, state: dict) -> Result:
        marker = self.out.marker_path(name)
        if marker.exists():  # from now on the outputs are not complete
            marker.unlink()
            fsync_dir(self.markers)
        source = self.root.data.image(name).read_bytes()
        t0 = time.perf_counter()
        image = cv2.imdecode(np.frombuffer(source, np.uint8), cv2.IMREAD_COLOR)
        codec = time.perf_counter() - t0
        if image is None:
            raise UnreadableImageError(f"data/images/{name}.jpg does not decode as an image")
        label_path = self.root.data.label(name)
        boxes = read_labels(label_path) if label_path.exists() else []
        boxes = correct_boxes(boxes, self.options.min_box_size)
        result = Result(name, "processed", codec_seconds=codec)
        staged: list = []  # written now, made durable together (one syncfs), then renamed into place
        try:
            written = self._stage_all(name, source, image, boxes, staged, result)
            pause_point("augmentor.before_commit")  # tests start another replica here
            commit_staged(staged)
        finally:
            for tmp, _final in staged:  # what was not renamed (an error midway); a kill leaves them to
                tmp.unlink(missing_ok=True)  # clean_temp_files, which knows their owner is gone
        self._remove_variants(name, keep=set(written))  # stale ones from an earlier run
        fsync_dir(self.out.images)
        fsync_dir(self.out.labels)
        record = CompletionMarker(
            name=name,
            variants=tuple(written),
            source=state,
            config=self.config,
            scheme=OUTPUT_SCHEME,
            extra={
                "skipped": result.skipped_variants,
                "by": f"{socket.gethostname()}:{os.getpid()}",
                "at": time.time(),
            },
        )
        atomic_write_text(marker, record.to_json())  # last: now the outputs are complete
        (self.failed / f"{name}.json").unlink(missing_ok=True)
        result.variants = len(written)
        return result

    def _stage_all(self, name: str, source: bytes, image, boxes: list[Box], staged: list, result: Result) -> list[int]:
        """Stage the original and every variant that succeeds; returns the variant indexes written."""
        staged.append(stage_bytes(self.out.image(name), source))  # the original, bytes as they are
        staged.append(stage_bytes(self.out.label(name), format_labels(boxes).encode()))
        written = []
        for variant in self.variants:
            try:
                t0 = time.perf_counter()
                out, out_boxes, classes = apply_variant(
                    variant,
                    image,
                    [(b.cx, b.cy, b.w, b.h) for b in boxes],
                    [b.class_id for b in boxes],
                    variant_seed(self.options.seed, name, variant.index),
                )
                t1 = time.perf_counter()
                ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, self.options.jpeg_quality])
                t2 = time.perf_counter()
                if not ok:
                    raise RuntimeError("JPEG encoding failed")
                result.transform_seconds += t1 - t0
                result.codec_seconds += t2 - t1
                corrected = correct_boxes(
                    (Box(c, *b) for c, b in zip(classes, out_boxes, strict=True)), self.options.min_box_size
                )
            except Exception as exc:  # a failing variant is skipped: fewer variants, never a wrong label
                log.warning("%s: variant %d (%s) skipped: %s", name, variant.index, variant.name, exc)
                result.skipped_variants.append(variant.name)
                continue
            variant_name = variant_stem(name, variant.index)
            staged.append(stage_bytes(self.out.image(variant_name), encoded.tobytes()))
            staged.append(stage_bytes(self.out.label(variant_name), format_labels(corrected).encode()))
            written.append(variant.index)
        return written

    def _set_aside(self, name: str, state: dict, reason: str) -> None:
        log.error("%s set aside until it changes: %s", name, reason)
        self.remove_outputs(name)
        record = {"name": name, "source": state, "reason": reason, "at": time.time()}
        atomic_write_text(self.failed / f"{name}.json", json.dumps(record, sort_keys=True))

    def remove_outputs(self, name: str) -> bool:
        """Remove the processed files of ``name`` (marker first). Returns whether anything was there."""
        marker = self.out.marker_path(name)
        existed = marker.exists() or self.out.image(name).exists()
        marker.unlink(missing_ok=True)
        if not self._is_variant_of_a_source(name):
            for path in (self.out.image(name), self.out.label(name)):
                path.unlink(missing_ok=True)
        self._remove_variants(name, keep=set())
        if existed:
            fsync_dir(self.markers)
            fsync_dir(self.out.images)
            fsync_dir(self.out.labels)
        return existed

    def _remove_variants(self, name: str, keep: set[int]) -> None:
        """Remove variants not in ``keep``, and every variant named the old way (scheme 1)."""
        for index in range(1, VARIANT_COUNT + 1):
            if index not in keep:
                self.out.image(variant_stem(name, index)).unlink(missing_ok=True)
                self.out.label(variant_stem(name, index)).unlink(missing_ok=True)
            legacy = variant_stem(name, index, scheme=1)
            if self.root.data.image(legacy).exists():
                continue  # an annotation of that very name owns that output (the old scheme's collision)
            self.out.image(legacy).unlink(missing_ok=True)
            self.out.label(legacy).unlink(missing_ok=True)

    def _is_variant_of_a_source(self, name: str) -> bool:
        """Whether ``name``'s original output may be a variant of another source in the old naming."""
        base, _, index = name.rpartition(LEGACY_VARIANT_SEPARATOR)
        return (
            bool(base) and index.isdigit() and 1 <= int(index) <= VARIANT_COUNT and self.root.data.image(base).exists()
        )


def result_dict(result: Result) -> dict:
    return asdict(result)
