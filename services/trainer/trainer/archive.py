"""A run's results in models/{run}/, and the promotion of its best weights to models/azaion.pt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from azaion_shared.atomic import atomic_write_bytes, atomic_write_text
from azaion_shared.paths import DataRoot
from trainer.training import run_dir

CURRENT = "azaion.pt"


def archive(root: DataRoot, run: str, dataset: Path) -> Path:
    """Copy weights, results.csv, plots and arguments of the run, with the dataset manifest."""
    source = run_dir(root, run)
    target = root.model_run(run)
    (target / "weights").mkdir(parents=True, exist_ok=True)
    for name in ("best.pt", "last.pt"):
        if (source / "weights" / name).exists():
            _copy(source / "weights" / name, target / "weights" / name)
    for path in source.iterdir():
        if path.is_file() and path.suffix in (".png", ".jpg", ".yaml"):
            _copy(path, target / path.name)
    if (source / "results.csv").exists():
        atomic_write_text(target / "results.csv", _one_row_per_epoch((source / "results.csv").read_text()))
    for name in ("manifest.json", "histogram.txt", "histogram.json", "data.yaml"):
        if (dataset / name).exists():
            _copy(dataset / name, target / f"dataset-{name}")
    return target


def _one_row_per_epoch(text: str) -> str:
    """ultralytics appends a row per epoch; an epoch re-run after a resume appears twice: keep the last."""
    lines = text.splitlines()
    if not lines:
        return text
    rows: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip():
            rows[line.split(",", 1)[0].strip()] = line
    ordered = sorted(rows.items(), key=lambda item: float(item[0]) if item[0].replace(".", "", 1).isdigit() else 0)
    return "\n".join([lines[0], *(line for _, line in ordered)]) + "\n"


def promote(root: DataRoot, run: str) -> Path:
    """models/{run}/weights/best.pt -> models/azaion.pt, atomically."""
    best = root.model_run(run) / "weights" / "best.pt"
    current = root.models / CURRENT
    _copy(best, current)
    atomic_write_text(root.models / "azaion.pt.json", json.dumps({"run": run}, indent=2))
    return current


def _copy(src: Path, dst: Path) -> None:
    with open(src, "rb") as fh:
        atomic_write_bytes(dst, iter(lambda: fh.read(4 * 1024 * 1024), b""))
    shutil.copystat(src, dst)
