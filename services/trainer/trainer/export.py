"""ONNX export with class names, image size and the model version in its metadata."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from azaion_shared.atomic import atomic_write_text
from azaion_shared.paths import DataRoot
from trainer.archive import _copy
from trainer.errors import ExportError
from trainer.training import offline

log = logging.getLogger(__name__)


def export_onnx(root: DataRoot, weights: Path, version: str, imgsz: int, batch: int) -> Path:
    offline()
    import onnx
    from ultralytics import YOLO

    started = time.perf_counter()
    try:
        produced = Path(YOLO(str(weights)).export(format="onnx", imgsz=imgsz, batch=batch, simplify=True))
    except Exception as exc:  # ultralytics raises many types from its exporters
        raise ExportError(f"ONNX export of {weights} failed: {exc}") from exc
    model = onnx.load(str(produced))
    meta = {p.key: p.value for p in model.metadata_props}
    extra = {"azaion_version": version, "azaion_imgsz": str(imgsz), "azaion_batch": str(batch)}
    for key, value in extra.items():
        entry = next((p for p in model.metadata_props if p.key == key), None) or model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(produced))
    target = root.models / "azaion.onnx"
    _copy(produced, target)
    atomic_write_text(
        root.models / "azaion.onnx.json",
        json.dumps(
            {"version": version, "imgsz": imgsz, "batch": batch, "names": meta.get("names"), "format": "onnx"}, indent=2
        ),
    )
    log.info(
        "exported %s -> %s (imgsz %d, batch %d) in %.1f s", weights, target, imgsz, batch, time.perf_counter() - started
    )
    return target
