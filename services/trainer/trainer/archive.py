"""A run's results in models/{run}/, and the promotion of its best weights to models/azaion.pt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from azaion_shared.atomic import atomic_write_bytes, atomic_write_text
from azaion_shared.paths import DataRoot, DatasetDir, RunDir
from trainer.training import run_dir


def archive(root: DataRoot, run: str, dataset: Path) -> Path:
    """Copy weights, results.csv, plots and arguments of the run, with the dataset manifest."""
    source, target, formed = RunDir(run_dir(root, run)), root.run(run), DatasetDir(dataset)
    target.weights.mkdir(parents=True, exist_ok=True)
    for weights in ("best", "last"):
        if getattr(source, weights).exists():
            _copy(getattr(source, weights), getattr(target, weights))
    for path in source.path.iterdir():
        if path.is_file() and path.suffix in (".png", ".jpg", ".yaml"):
            _copy(path, target.path / path.name)
    if source.results.exists():
        atomic_write_text(target.results, _one_row_per_epoch(source.results.read_text()))
    for name in DatasetDir.FILES:
        if formed.file(name).exists():
            _copy(formed.file(name), target.dataset.file(name))
    return target.path


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
    current = root.current_model
    _copy(root.run(run).best, current)
    atomic_write_text(root.current_run_file, json.dumps({"run": run}, indent=2))
    return current


def _copy(src: Path, dst: Path) -> None:
    with open(src, "rb") as fh:
        atomic_write_bytes(dst, iter(lambda: fh.read(4 * 1024 * 1024), b""))
    shutil.copystat(src, dst)
