"""The promotion gate: the new model must not be worse than the current one on the new test split."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from azaion_shared.atomic import atomic_write_text
from azaion_shared.paths import DataRoot
from trainer.training import offline

log = logging.getLogger(__name__)


@dataclass
class GateDecision:
    publish: bool
    reason: str
    split: str
    new_map50_95: float
    new_map50: float
    current_map50_95: float | None = None
    current_map50: float | None = None
    margin: float = 0.0
    forced: bool = False


def evaluate(
    weights: Path, data_yaml: Path, split: str, imgsz: int, device: str, batch: int = 8, confusion: bool = False
) -> tuple[float, float, dict | None]:
    """(mAP50-95, mAP50, the confusion matrix when asked) of ``weights`` on ``split``."""
    offline()
    from ultralytics import YOLO

    with tempfile.TemporaryDirectory(prefix="azaion-gate-") as plots:  # ultralytics plots land here, not in cwd
        metrics = YOLO(str(weights)).val(
            data=str(data_yaml),
            split=split,
            imgsz=imgsz,
            batch=batch,
            device=device or None,
            plots=confusion,  # ultralytics fills its confusion matrix only while plotting
            project=plots,
            name="val",
            verbose=False,
            save_json=False,
            workers=0,
        )
    found = getattr(metrics, "confusion_matrix", None) if confusion else None
    matrix = None if found is None else present_classes(found.matrix, metrics.names, split)
    return float(metrics.box.map), float(metrics.box.map50), matrix


def present_classes(matrix, names: dict[int, str], split: str) -> dict:
    """ultralytics' confusion matrix (``[predicted, true]``, background last) as counts by true class
    (rows) and predicted class (columns), keeping only the classes that appear in either, and background."""
    size = len(matrix) - 1
    used = [i for i in range(size) if matrix[i, :].sum() > 0 or matrix[:, i].sum() > 0]
    keep = [*used, size]
    return {
        "split": split,
        "classes": [names.get(i, str(i)) for i in used] + ["background"],
        "counts": [[int(matrix[predicted, true]) for predicted in keep] for true in keep],
    }


def decide(
    root: DataRoot, run: str, data_yaml: Path, test_images: int, imgsz: int, device: str, margin: float, force: bool
) -> GateDecision:
    split = "test" if test_images > 0 else "val"  # a tiny data set may leave test empty
    new = root.run(run).best
    new_map, new_map50, confusion = evaluate(new, data_yaml, split, imgsz, device, confusion=True)
    if confusion is not None:
        atomic_write_text(root.run(run).confusion, json.dumps(confusion))
    current = root.current_model
    if not current.exists():
        decision = GateDecision(True, "no current model: the first one is published", split, new_map, new_map50)
    else:
        cur_map, cur_map50, _ = evaluate(current, data_yaml, split, imgsz, device)
        ok = new_map >= cur_map - margin
        reason = f"mAP50-95 {new_map:.4f} vs current {cur_map:.4f} (margin {margin}): " + (
            "not worse, publish" if ok else "worse, keep the current model"
        )
        decision = GateDecision(ok, reason, split, new_map, new_map50, cur_map, cur_map50, margin)
    if force and not decision.publish:
        decision.publish, decision.forced = True, True
        decision.reason += " -- forced by --force"
    atomic_write_text(root.run(run).gate, json.dumps(asdict(decision), indent=2))
    log.info("gate: %s", decision.reason)
    return decision
