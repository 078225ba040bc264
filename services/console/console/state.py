"""What the console reads from the data root, read-only, counted incrementally.

Folders are never walked on each request: a folder's entries are listed again only when its
modification time changed (adding, renaming or removing an entry changes it), so a page over
100,000 annotations costs a few ``stat`` calls once the counts are known. A training run's files
are parsed again only when one of them changed. Nothing here opens a file for writing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from azaion_shared.labels import read_labels
from azaion_shared.paths import (
    IMAGE_SUFFIX,
    MARKER_SUFFIX,
    REJECTED_RAW_SUFFIX,
    REJECTED_REASON_SUFFIX,
    DataRoot,
    RunDir,
)

#: ultralytics' results.csv columns the run page draws, grouped into charts
CHARTS = {
    "mAP": ["metrics/mAP50(B)", "metrics/mAP50-95(B)"],
    "precision and recall": ["metrics/precision(B)", "metrics/recall(B)"],
    "training loss": ["train/box_loss", "train/cls_loss", "train/dfl_loss"],
    "validation loss": ["val/box_loss", "val/cls_loss", "val/dfl_loss"],
}
MAP = "metrics/mAP50-95(B)"
MAP50 = "metrics/mAP50(B)"
FOLDERS = {"data": "data", "data-seed": "seed", "data_deleted": "deleted", "data-processed": "processed"}


class Listing:
    """Names in folders, listed again only when a folder's mtime changes (thread-safe)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Path, str], tuple[tuple[int, int], frozenset[str]]] = {}
        self._lock = threading.Lock()

    def names(self, folder: Path, suffix: str) -> frozenset[str]:
        try:
            stat = folder.stat()
        except FileNotFoundError:
            return frozenset()
        key, stamp = (folder, suffix), (stat.st_mtime_ns, stat.st_ino)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        with os.scandir(folder) as entries:
            names = frozenset(
                e.name[: len(e.name) - len(suffix)]
                for e in entries
                if e.name.endswith(suffix) and not e.name.startswith(".")
            )
        with self._lock:
            self._cache[key] = (stamp, names)
        return names


@dataclass
class Run:
    """A training run archived in models/{run}/ (trainer.archive)."""

    name: str
    path: Path
    epochs: int = 0
    columns: dict[str, list[float]] = field(default_factory=dict)
    gate: dict | None = None
    manifest: dict | None = None
    histogram: dict | None = None
    confusion: dict | None = None
    promoted: bool = False
    modified: float = 0.0

    @property
    def map50_95(self) -> float | None:
        values = self.columns.get(MAP)
        return max(values) if values else None

    @property
    def map50(self) -> float | None:
        values = self.columns.get(MAP50)
        return max(values) if values else None

    @property
    def status(self) -> str:
        if self.promoted:
            return "promoted"
        if self.gate is not None:
            return "published" if self.gate.get("publish") else "refused by the gate"
        return "trained" if self.epochs else "no results"

    def plots(self) -> list[str]:
        """ultralytics' own plots kept with the run (PR curve, labels ...); its confusion matrix plots
        (80 x 80 whatever the classes used) are left out where the gate's own, of the classes present, is."""
        found = sorted(p.name for p in self.path.iterdir() if p.suffix == ".png" and p.is_file())
        return [p for p in found if not (self.confusion and p.startswith("confusion_matrix"))]

    def summary(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "epochs": self.epochs,
            "map50_95": None if self.map50_95 is None else round(self.map50_95, 4),
            "map50": None if self.map50 is None else round(self.map50, 4),
            "gate": None if self.gate is None else self.gate.get("reason"),
            "promoted": self.promoted,
            "modified": self.modified or None,
        }


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def parse_results(text: str) -> dict[str, list[float]]:
    """ultralytics' results.csv as columns of floats (its headers are padded with spaces)."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return {}
    header = [h.strip() for h in rows[0]]
    columns: dict[str, list[float]] = {h: [] for h in header}
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        for name, value in zip(header, row, strict=True):
            try:
                columns[name].append(float(value))
            except ValueError:
                columns[name].append(float("nan"))
    return columns


class Pipeline:
    """The pipeline's state as the data root shows it."""

    def __init__(self, root: Path, models_dir: Path | None = None):
        self.root = DataRoot(root, models_dir)
        self.listing = Listing()
        self._runs: dict[str, tuple[tuple, Run]] = {}
        self._lock = threading.Lock()

    # --- annotations ------------------------------------------------------------------------------
    def folder(self, key: str):
        """The PairDir (or ProcessedDir) behind a browsable folder name."""
        if key not in FOLDERS:
            raise KeyError(key)
        return getattr(self.root, FOLDERS[key])

    def names(self, key: str) -> frozenset[str]:
        return self.listing.names(self.folder(key).images, IMAGE_SUFFIX)

    def counts(self) -> dict:
        data = self.names("data")
        markers = self.listing.names(self.root.processed.markers, MARKER_SUFFIX)
        return {
            "seed": len(self.names("data-seed")),
            "data": len(data),
            "deleted": len(self.names("data_deleted")),
            "augmented": len(data & markers),
            "pending": len(data - markers),
            "rejected": len(self.listing.names(self.root.rejected, REJECTED_RAW_SUFFIX)),
        }

    def rejected(self) -> list[dict]:
        """Rejected messages, newest offset first: stem, epoch, offset, size, reason."""
        out = []
        for stem in self.listing.names(self.root.rejected, REJECTED_RAW_SUFFIX):
            epoch, _, rest = stem.partition("-")
            offset = rest.partition("-")[0]
            raw = self.root.rejected / f"{stem}{REJECTED_RAW_SUFFIX}"
            try:
                reason = (self.root.rejected / f"{stem}{REJECTED_REASON_SUFFIX}").read_text().strip()
                stat = raw.stat()
            except FileNotFoundError:
                continue
            out.append(
                {
                    "stem": stem,
                    "epoch": epoch,
                    "offset": int(offset) if offset.isdigit() else None,
                    "size": stat.st_size,
                    "time": stat.st_mtime,
                    "reason": reason,
                }
            )
        return sorted(out, key=lambda r: (r["offset"] is None, -(r["offset"] or 0)))

    def rejected_raw(self, stem: str) -> Path | None:
        if stem not in self.listing.names(self.root.rejected, REJECTED_RAW_SUFFIX):
            return None
        return self.root.rejected / f"{stem}{REJECTED_RAW_SUFFIX}"

    def labels(self, key: str, name: str) -> list:
        try:
            return read_labels(self.folder(key).label(name))
        except (FileNotFoundError, ValueError):
            return []

    # --- models ----------------------------------------------------------------------------------
    def current_run(self) -> str | None:
        found = _read_json(self.root.current_run_file)
        return found.get("run") if found else None

    def run_names(self) -> list[str]:
        models = self.root.models
        listed = self.listing.names(models, "")
        return sorted(n for n in listed if RunDir(models / n).results.is_file() or RunDir(models / n).gate.is_file())

    def run(self, name: str) -> Run | None:
        files = self.root.run(name)
        path = files.path
        if name.startswith(".") or "/" in name or not path.is_dir():
            return None
        stamp = (*tuple(_mtime(f) for f in files.watched()), self.current_run())
        with self._lock:
            hit = self._runs.get(name)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        run = Run(name, path)
        with contextlib.suppress(FileNotFoundError):
            run.columns = parse_results(files.results.read_text())
        run.epochs = len(run.columns.get("epoch", []))
        run.gate = _read_json(files.gate)
        run.confusion = _read_json(files.confusion)
        run.manifest = _read_json(files.dataset.manifest)
        run.histogram = _read_json(files.dataset.histogram)
        run.promoted = stamp[-1] == name
        run.modified = max((s for s in stamp[:-1] if s), default=0.0)
        with self._lock:
            self._runs[name] = (stamp, run)
        return run

    def class_names(self, run: str | None = None) -> dict[int, str]:
        """Class names from a run's data.yaml (when none is named: the newest run that has one)."""
        import yaml

        candidates = [run] if run is not None else [r.name for r in self.runs(len(self.run_names()))]
        for name in candidates:
            try:
                names = yaml.safe_load(self.root.run(name).dataset.data_yaml.read_text()).get("names", {})
            except (FileNotFoundError, AttributeError, yaml.YAMLError):
                continue
            if isinstance(names, list):
                names = dict(enumerate(names))
            return {int(k): str(v) for k, v in names.items()}
        return {}

    def runs(self, last: int = 10) -> list[Run]:
        found = [r for r in (self.run(n) for n in self.run_names()) if r is not None]
        return sorted(found, key=lambda r: r.modified, reverse=True)[:last]

    def artifacts(self) -> list[dict]:
        """The current model and its exports in models/, with sizes."""
        out = []
        for name in sorted(self.listing.names(self.root.models, "")):
            path = self.root.models / name
            if name.startswith("azaion.") and not name.endswith(".json"):
                try:
                    out.append({"name": name, "size": path.stat().st_size})
                except FileNotFoundError:
                    continue
        return out


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
