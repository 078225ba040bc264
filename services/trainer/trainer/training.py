"""Training with ultralytics, and resuming it after a power loss.

ultralytics writes checkpoints in place (not atomically): a power cut during a save can
leave ``last.pt`` half-written. With ``save_period=1`` every epoch also leaves
``epochN.pt``, so a resume takes the newest checkpoint that loads, never a broken one.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from azaion_shared.paths import DataRoot, RunDir
from trainer.errors import TrainingError

log = logging.getLogger(__name__)

TRAIN_DIR = ".train"


def run_dir(root: DataRoot, run: str) -> Path:
    return root.models / TRAIN_DIR / run


def offline() -> None:
    """Ultralytics must never download or pip-install anything (air-gapped sites)."""
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLO_OFFLINE"] = "true"


def train(root: DataRoot, run: str, data_yaml: Path, args: dict, weights: Path | None, model_yaml: str):
    """Train from mounted weights when present, else from the architecture yaml."""
    offline()
    from ultralytics import YOLO

    source = str(weights) if weights and weights.is_file() else model_yaml
    if source == model_yaml and weights:
        log.info("no pretrained weights at %s: training %s from scratch", weights, model_yaml)
    model = YOLO(source)
    train_args = {
        **args,
        "data": str(data_yaml),
        "project": str(root.models / TRAIN_DIR),
        "name": run,
        "exist_ok": True,
    }
    log.info("training %s on %s: %s", source, data_yaml, {k: v for k, v in train_args.items() if k != "data"})
    try:
        model.train(**train_args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise TrainingError(f"training {run} failed: {exc}") from exc
    return run_dir(root, run)


def loadable(path: Path) -> bool:
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a truncated or corrupt file: any error from the unpickler
        return False
    return isinstance(ckpt, dict) and (ckpt.get("model") is not None or ckpt.get("ema") is not None)


def resume_checkpoint(root: DataRoot, run: str) -> Path:
    """The newest checkpoint of ``run`` that loads (last.pt, else the latest epochN.pt)."""
    weights = RunDir(run_dir(root, run)).weights
    if not weights.is_dir():
        raise TrainingError(f"no checkpoints for run {run} in {weights}; start it with `python -m trainer train`")
    epochs = sorted(
        (p for p in weights.glob("epoch*.pt") if re.fullmatch(r"epoch\d+\.pt", p.name)),
        key=lambda p: int(p.stem[5:]),
        reverse=True,
    )
    for candidate in [weights / RunDir.LAST, *epochs]:
        if candidate.is_file() and loadable(candidate):
            return candidate
        if candidate.exists():
            log.warning("checkpoint %s does not load (half-written at a power loss?): skipping it", candidate)
    raise TrainingError(f"no loadable checkpoint in {weights}")


def resume(root: DataRoot, run: str) -> Path:
    offline()
    from ultralytics import YOLO

    checkpoint = resume_checkpoint(root, run)
    last = checkpoint.parent / RunDir.LAST
    if checkpoint != last:
        shutil.copyfile(checkpoint, last)  # ultralytics resumes from the file it is given
    log.info("resuming run %s from %s", run, checkpoint)
    try:
        YOLO(str(last)).train(resume=True)
    except (FileNotFoundError, ValueError, RuntimeError, AssertionError) as exc:
        raise TrainingError(f"resuming {run} failed: {exc}") from exc
    return run_dir(root, run)


def finished(root: DataRoot, run: str) -> bool:
    """True when the run trained all its epochs (ultralytics marks the final checkpoint with epoch -1)."""
    import torch

    last = RunDir(run_dir(root, run)).last
    if not last.is_file():
        return False
    try:
        return torch.load(last, map_location="cpu", weights_only=False).get("epoch") == -1
    except Exception:
        return False
