"""A tiny YOLO11 model trained here on the sample photographs, exported to ONNX (CPU, about 30 s).

yolo11n from its yaml (no download) at 96 px, the trainer's tiny configuration, with a high
learning rate and no warm-up or mosaic: a few dozen epochs on a dozen photographs then give a
model that fires (scores up to 1) instead of one whose scores all sit near 0.003, so comparisons
of detections compare something.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from photos import write_dataset

TRAIN_ARGS = {
    "epochs": 60,
    "imgsz": 96,
    "batch": 4,
    "optimizer": "SGD",
    "lr0": 0.02,
    "warmup_epochs": 0,
    "mosaic": 0.0,
    "device": "cpu",
    "workers": 0,
    "plots": False,
    "val": False,
    "verbose": False,
    "amp": False,
    "seed": 0,
}


class TinyModel:
    def __init__(self, workdir: Path):
        self.workdir = workdir

    def train(self, **overrides) -> TinyModel:
        os.environ.setdefault("YOLO_OFFLINE", "true")
        os.environ.setdefault("YOLO_AUTOINSTALL", "false")
        from ultralytics import YOLO

        data = write_dataset(self.workdir / "dataset")
        YOLO("yolo11n.yaml").train(
            data=str(data), project=str(self.workdir / "runs"), name="tiny", exist_ok=True, **(TRAIN_ARGS | overrides)
        )
        self.weights = self.workdir / "runs" / "tiny" / "weights" / "last.pt"
        return self

    @cache  # noqa: B019 - one instance per session
    def onnx(self, imgsz: int = 128, batch: int = 4, dynamic: bool = False) -> Path:
        """The model exported to ONNX (ultralytics' exporter, as the trainer does)."""
        from ultralytics import YOLO

        produced = Path(
            YOLO(str(self.weights)).export(format="onnx", imgsz=imgsz, batch=batch, dynamic=dynamic, simplify=True)
        )
        target = self.workdir / f"tiny-{imgsz}-b{batch}{'-dynamic' if dynamic else ''}.onnx"
        produced.replace(target)
        return target
