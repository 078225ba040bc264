"""Dataset formation: data-processed/ -> datasets/{run}/ for one training run.

- Only complete annotations (those with a completion marker from the augmentor) are used.
- Every pair is validated (label columns, values in 0..1, known class, a JPEG that starts and
  ends like one); a bad pair is moved to data-corrupted/ with its reason, the rest goes on.
- The split is by *original annotation*: an original and its variants land in the same split,
  so near-duplicates never leak into valid/test. The split of a name is decided by a hash of
  (seed, name): deterministic, and stable as data grows (adding images never moves old ones).
- valid and test take only originals by default (variants measure nothing new).
- Files enter datasets/{run}/ as hard links (a copy only across filesystems).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from azaion_shared.atomic import atomic_write_text, fsync_dir, temp_path_for
from azaion_shared.errors import LabelError
from azaion_shared.labels import parse_labels
from azaion_shared.paths import DataRoot, DatasetDir
from azaion_shared.progress import progress
from trainer.classes import HEAD_SIZE, padded_names
from trainer.errors import DatasetError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitRatios:
    train: float = 0.7
    valid: float = 0.2
    test: float = 0.1

    def __post_init__(self) -> None:
        if min(self.train, self.valid, self.test) < 0 or abs(self.train + self.valid + self.test - 1) > 1e-6:
            raise DatasetError(f"split ratios must be >= 0 and sum to 1, got {self.train}/{self.valid}/{self.test}")


@dataclass
class DatasetResult:
    path: Path
    data_yaml: Path
    counts: dict[str, int] = field(default_factory=dict)  # images per split
    groups: dict[str, int] = field(default_factory=dict)  # originals per split
    histogram: dict[str, dict[int, int]] = field(default_factory=dict)
    corrupted: list[tuple[str, str]] = field(default_factory=list)
    manifest_hash: str = ""


def split_of(name: str, seed: int, ratios: SplitRatios) -> str:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < ratios.train:
        return "train"
    return "valid" if u < ratios.train + ratios.valid else "test"


def complete_groups(root: DataRoot) -> dict[str, list[str]]:
    """original name -> its output names (original first), for every annotation with a marker."""
    return {marker.name: marker.stems() for marker in root.processed.completed()}


def quick_class_ids(text: str, known: set[int]) -> list[int] | None:
    """Class ids of a well-formed label, or None when anything is off (then the full parser says what).

    The common case, a good label, costs a third of the full parser's time.
    """
    ids = []
    try:
        for line in text.splitlines():
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 5:
                return None
            c = int(parts[0])
            x, y, w, h = float(parts[1]), float(parts[2]), float(parts[3]), float(parts[4])
            if c not in known or not (0 <= x <= 1 and 0 <= y <= 1 and 0 < w <= 1 and 0 < h <= 1):
                return None  # NaN fails these comparisons too
            ids.append(c)
    except ValueError:
        return None
    return ids


def check_pair(image: str, label: str, known: set[int]) -> tuple[str | None, list[int], tuple[int, int]]:
    """(reason the pair is unusable or None, class ids of its boxes, (image size, mtime_ns)).

    Cheap on purpose: the augmentor decoded every image it wrote, so the image is only checked
    to start and end like a JPEG.
    """
    try:
        with open(label, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return "label file missing", [], (0, 0)
    except UnicodeDecodeError as exc:
        return f"{label}: not UTF-8 text ({exc})", [], (0, 0)
    ids = quick_class_ids(text, known)
    if ids is None:
        try:
            boxes = parse_labels(text, source=label, num_classes=HEAD_SIZE)
        except LabelError as exc:
            return str(exc), [], (0, 0)
        unknown = next((b.class_id for b in boxes if b.class_id not in known), None)
        return f"{label}: class id {unknown} is not in the classes file", [], (0, 0)
    try:
        fd = os.open(image, os.O_RDONLY)
    except FileNotFoundError:
        return "image file missing", [], (0, 0)
    try:
        st = os.fstat(fd)
        if st.st_size < 4 or os.pread(fd, 3, 0) != b"\xff\xd8\xff" or os.pread(fd, 2, st.st_size - 2) != b"\xff\xd9":
            return f"{image}: not a complete JPEG (start or end-of-image marker missing)", [], (0, 0)
    finally:
        os.close(fd)
    return None, ids, (st.st_size, st.st_mtime_ns)


def link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except FileExistsError:
        os.unlink(dst)
        os.link(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copy2(src, dst)  # another filesystem: a copy is the only way


def quarantine(root: DataRoot, name: str, reason: str) -> None:
    corrupted = root.corrupted.ensure()
    for src, dst in (
        (root.processed.image(name), corrupted.image(name)),
        (root.processed.label(name), corrupted.label(name)),
    ):
        if src.exists():
            os.replace(src, dst)
    reasons = corrupted.path / "reasons"
    reasons.mkdir(exist_ok=True)
    atomic_write_text(reasons / f"{name}.txt", reason + "\n")
    log.warning("moved %s to data-corrupted/: %s", name, reason)


@dataclass
class _Part:
    counts: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    histogram: dict[str, Counter] = field(default_factory=dict)
    corrupted: list[tuple[str, str]] = field(default_factory=list)
    manifest: list[str] = field(default_factory=list)


def _link_chunk(job) -> _Part:
    """Validate and link the planned pairs; returns what was used, found corrupt, and seen."""
    root, out, plan, known, show_progress = job
    part = _Part(histogram={s: Counter() for s in SPLITS})
    src_images, src_labels = str(root.processed.images), str(root.processed.labels)
    for split, members in progress(plan, "dataset", "annotation") if show_progress else plan:
        dst_images, dst_labels = f"{out}/{split}/images", f"{out}/{split}/labels"
        used = 0
        for name in members:
            image, label = f"{src_images}/{name}.jpg", f"{src_labels}/{name}.txt"
            reason, ids, (size, mtime) = check_pair(image, label, known)
            if reason is not None:
                quarantine(root, name, reason)
                part.corrupted.append((name, reason))
                continue
            link(image, f"{dst_images}/{name}.jpg")
            link(label, f"{dst_labels}/{name}.txt")
            part.histogram[split].update(ids)
            part.manifest.append(f"{split}/{name} {size} {mtime}\n")
            used += 1
        part.counts[split] = part.counts.get(split, 0) + used
        part.groups[split] = part.groups.get(split, 0) + (1 if used else 0)
    return part


def _never_empty(assigned: dict[str, str], ratios: SplitRatios) -> None:
    """With few originals the hash can leave train or valid empty, which ultralytics refuses: move one over."""
    if len(assigned) < 2:
        return
    for needed, ratio in (("train", ratios.train), ("valid", ratios.valid)):
        if ratio > 0 and needed not in assigned.values():
            splits = list(assigned.values())
            donor_split = max(("train", "test", "valid"), key=splits.count)
            donor = max(o for o, s in assigned.items() if s == donor_split)
            assigned[donor] = needed
            log.warning(
                "only %d originals: %s moved from %s to %s so that %s is not empty",
                len(assigned),
                donor,
                donor_split,
                needed,
                needed,
            )


def form_dataset(
    root: DataRoot,
    run: str,
    classes: dict[int, str],
    seed: int = 0,
    ratios: SplitRatios = SplitRatios(),
    variants_in_eval: bool = False,
    show_progress: bool = False,
) -> DatasetResult:
    """Form ``datasets/{run}/`` from the augmentor's complete annotations (``show_progress``: how far
    along, on standard error)."""
    groups = complete_groups(root)
    if not groups:
        raise DatasetError(
            f"no complete annotations in {root.processed.path}: run the augmentor first (python -m augmentor process)"
        )
    out = root.dataset(run)
    # Built under a temporary name of our own (azaion_shared.owners), then renamed into place: a
    # trainer that crashes leaves a folder the next one recognises as abandoned, never half a dataset
    # under the run's name, and never removes a folder another live trainer is building.
    building = temp_path_for(out)
    try:
        result = _build(root, run, out, building, classes, groups, seed, ratios, variants_in_eval, show_progress)
        _swap_into_place(building, out)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return result


def _swap_into_place(building: Path, out: Path) -> None:
    """Replace ``out`` (re-forming a run's dataset) with ``building``; the old one is set aside first."""
    previous = temp_path_for(out) if out.exists() else None
    if previous is not None:
        os.replace(out, previous)
    os.replace(building, out)
    fsync_dir(out.parent)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _build(root, run, out, building, classes, groups, seed, ratios, variants_in_eval, show_progress) -> DatasetResult:
    """Link the dataset into ``building``; paths written inside it (data.yaml) name ``out``."""
    dirs = {s: (building / s / "images", building / s / "labels") for s in SPLITS}
    for images, labels in dirs.values():
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
    known = set(classes)
    result = DatasetResult(path=out, data_yaml=DatasetDir(out).data_yaml)
    files = DatasetDir(building)
    plan = []
    assigned = {original: split_of(original, seed, ratios) for original in sorted(groups)}
    _never_empty(assigned, ratios)
    for original, split in assigned.items():
        members = groups[original] if split == "train" or variants_in_eval else groups[original][:1]
        plan.append((split, members))
    # One process: measured with two, forking and pickling the plan cost more than they saved.
    parts = [_link_chunk((root, building, plan, known, show_progress))]
    histogram = {s: Counter() for s in SPLITS}
    lines: list[str] = []
    for part in parts:
        for split in SPLITS:
            result.counts[split] = result.counts.get(split, 0) + part.counts.get(split, 0)
            result.groups[split] = result.groups.get(split, 0) + part.groups.get(split, 0)
            histogram[split].update(part.histogram.get(split, {}))
        result.corrupted.extend(part.corrupted)
        lines.extend(part.manifest)
    manifest = hashlib.sha256("".join(sorted(lines)).encode())
    result.histogram = {s: dict(sorted(h.items())) for s, h in histogram.items()}
    result.manifest_hash = manifest.hexdigest()
    for split in SPLITS:
        result.counts.setdefault(split, 0)
        result.groups.setdefault(split, 0)
    data = {
        "path": str(out),
        "train": "train/images",
        "val": "valid/images",
        "test": "test/images",
        "nc": HEAD_SIZE,
        "names": padded_names(classes),
    }
    atomic_write_text(files.data_yaml, yaml.safe_dump(data, sort_keys=False))
    atomic_write_text(
        files.manifest,
        json.dumps(
            {
                "run": run,
                "seed": seed,
                "ratios": vars(ratios),
                "counts": result.counts,
                "originals": result.groups,
                "corrupted": len(result.corrupted),
                "hash": result.manifest_hash,
            },
            indent=2,
        ),
    )
    atomic_write_text(files.histogram_text, format_histogram(result.histogram, classes))
    atomic_write_text(files.histogram, json.dumps(result.histogram, indent=2))
    if result.counts["train"] == 0:
        raise DatasetError(f"no training images in {out}: every annotation was corrupt or went to valid/test")
    return result


def format_histogram(histogram: dict[str, dict[int, int]], classes: dict[int, str]) -> str:
    ids = sorted({c for h in histogram.values() for c in h})
    width = max([len(classes.get(c, str(c))) for c in ids] + [5])
    lines = [f"{'class':<{width}} " + " ".join(f"{s:>8}" for s in SPLITS)]
    for c in ids:
        lines.append(f"{classes.get(c, str(c)):<{width}} " + " ".join(f"{histogram[s].get(c, 0):>8}" for s in SPLITS))
    lines.append(f"{'boxes':<{width}} " + " ".join(f"{sum(histogram[s].values()):>8}" for s in SPLITS))
    return "\n".join(lines) + "\n"
