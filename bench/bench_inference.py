"""Edge inference on the CPU: our pipeline vs ultralytics ``predict(stream=True)``, same ONNX model.

The model is yolo11n (from its yaml: the speed of a trained one, no download) exported to ONNX at
BENCH_INFERENCE_IMGSZ (640) with batch 4, as the trainer exports. The video is BENCH_INFERENCE_FRAMES
1280x720 frames made from ultralytics' sample photographs. Both sides process every frame with
batches of 4 and the same thresholds; each side runs twice and the faster run counts.
Overhead = 1 - time inside ONNX Runtime / wall time of our pipeline.
Goals (issue 7): >= 1.0 x ultralytics' FPS; overhead <= 15 %.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from common import Row

FRAMES = int(os.environ.get("BENCH_INFERENCE_FRAMES", "48"))
IMGSZ = int(os.environ.get("BENCH_INFERENCE_IMGSZ", "640"))
BATCH = 4
REPEAT = 2


def make_model(workdir: Path) -> Path:
    os.environ.setdefault("YOLO_OFFLINE", "true")
    from ultralytics import YOLO

    produced = YOLO("yolo11n.yaml").export(format="onnx", imgsz=IMGSZ, batch=BATCH, simplify=True)
    target = workdir / "bench.onnx"
    Path(produced).replace(target)
    return target


def make_video(workdir: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
    from photos import frames, write_video

    return write_video(workdir / "bench.mp4", frames(FRAMES, (1280, 720)), fps=25.0)


def ours(model: Path, video: Path) -> dict:
    from inference.backends.onnx import OnnxRuntimeBackend
    from inference.pipeline import Pipeline
    from inference.source import Source

    best = None
    backend = OnnxRuntimeBackend(model.read_bytes())
    for _ in range(REPEAT):
        stats = Pipeline(backend, [], conf=0.25, iou=0.7).run(Source(str(video), every=1))
        if best is None or stats.wall_seconds < best.wall_seconds:
            best = stats
    assert best.frames == FRAMES
    return {"fps": best.fps, "overhead": best.overhead, "model": best.model_seconds, "wall": best.wall_seconds}


def theirs(model: Path, video: Path) -> dict:
    from ultralytics import YOLO

    yolo = YOLO(str(model), task="detect")
    best = float("inf")
    for _ in range(REPEAT):
        started = time.perf_counter()
        count = sum(
            1
            for _ in yolo.predict(
                str(video), stream=True, conf=0.25, iou=0.7, imgsz=IMGSZ, batch=BATCH, verbose=False, device="cpu"
            )
        )
        best = min(best, time.perf_counter() - started)
    assert count == FRAMES, count
    return {"fps": FRAMES / best, "wall": best}


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        workdir = Path(tmp)
        model, video = make_model(workdir), make_video(workdir)
        ultra = theirs(model, video)
        mine = ours(model, video)
    ratio = mine["fps"] / ultra["fps"]
    print(
        f"{FRAMES} frames 1280x720, yolo11n ONNX {IMGSZ} px batch {BATCH}: ours {mine['fps']:.2f} fps "
        f"(model {mine['model']:.2f} s of {mine['wall']:.2f} s), ultralytics {ultra['fps']:.2f} fps"
    )
    return [
        Row(
            "inference FPS vs ultralytics predict(stream=True) (CPU, ONNX Runtime)",
            ">= 1.0 x",
            f"{ratio:.2f} x ({mine['fps']:.2f} vs {ultra['fps']:.2f} fps)",
            ratio >= 1.0,
        ),
        Row("inference pipeline overhead", "<= 15 %", f"{mine['overhead']:.1%}", mine["overhead"] <= 0.15),
    ]
