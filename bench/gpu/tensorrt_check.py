"""On a machine with an NVIDIA GPU: build a TensorRT engine, run it, compare, measure.

    python bench/gpu/tensorrt_check.py [--onnx model.onnx] [--frames 200] [--fp32]

1. builds an engine for this GPU from the ONNX model with the inference service's builder
   (FP16 by default, batch profile 1..4 when the ONNX batch is dynamic);
2. runs our pipeline (TensorRTBackend) on a 1280x720 video and prints FPS and the overhead;
3. measures the engine's pure throughput (execute_async_v3 back to back, no copies, no pre/post
   processing) and prints pipeline FPS / pure FPS (goal of issue 7: as close to 1 as the host allows);
4. runs the same frames through ONNX Runtime on the CPU and prints how many detections agree
   (same class, IoU >= 0.9; FP16 moves scores a little).

Without --onnx it exports yolo11n (random weights, the speed of a trained one) with ultralytics.
Needs: tensorrt, cuda-python, onnxruntime, opencv (pip install 'azaion-inference[tensorrt]').
Nothing here runs in CI: the CI machine has no GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "services" / "inference"))


def export_yolo(workdir: Path, imgsz: int) -> Path:
    from ultralytics import YOLO

    return Path(YOLO("yolo11n.yaml").export(format="onnx", imgsz=imgsz, batch=4, dynamic=True, simplify=True))


def make_frames(count: int) -> list[np.ndarray]:
    try:
        sys.path.insert(0, str(REPO / "tests" / "support"))
        from photos import frames

        return frames(count, (1280, 720))
    except Exception:  # no ultralytics sample images here: moving noise will do for timing
        rng = np.random.default_rng(0)
        return [rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8) for _ in range(count)]


def collect(backend, images, conf: float):
    from inference.pipeline import Pipeline
    from inference.source import Frame

    found = []
    stats = Pipeline(backend, [], conf=conf, on_frame=lambda f, d: found.append(d)).run(
        Frame(i, 0.0, image) for i, image in enumerate(images)
    )
    return found, stats


def agreement(a, b) -> tuple[int, int]:
    from inference.postprocess import iou_one_to_many

    matched = total = 0
    for mine, ref in zip(a, b, strict=True):
        total += len(ref)
        for box, cls in zip(ref.boxes, ref.classes, strict=True):
            same = mine.classes == cls
            if same.any() and iou_one_to_many(box, mine.boxes[same]).max() >= 0.9:
                matched += 1
    return matched, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--onnx", type=Path)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--fp32", action="store_true")
    args = parser.parse_args()

    from azaion_shared.vendors.tensorrt import compute_capability
    from inference.backends.onnx import OnnxRuntimeBackend
    from inference.backends.tensorrt import TensorRTBackend, build_engine

    report: dict = {"compute_capability": compute_capability()}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = args.onnx or export_yolo(Path(tmp), args.imgsz)
        onnx = onnx_path.read_bytes()
    started = time.perf_counter()
    engine = build_engine(onnx, fp16=not args.fp32, max_batch=4)
    report["build_seconds"] = round(time.perf_counter() - started, 1)
    images = make_frames(args.frames)
    with TensorRTBackend(engine) as backend:
        collect(backend, images[:8], args.conf)  # warm-up
        trt_found, stats = collect(backend, images, args.conf)
        per_exec = backend.execute_only(repeats=200)
        pure_fps = backend.batch / per_exec
        report |= {
            "batch": backend.batch,
            "input": list(backend.input_size),
            "pipeline_fps": round(stats.fps, 1),
            "pipeline_overhead": round(stats.overhead, 3),
            "engine_pure_fps": round(pure_fps, 1),
            "pipeline_vs_pure": round(stats.fps / pure_fps, 3),
        }
    sample = images[: min(len(images), 40)]
    ort_found, ort_stats = collect(OnnxRuntimeBackend(onnx), sample, args.conf)
    matched, total = agreement(trt_found[: len(sample)], ort_found)
    report |= {"onnxruntime_cpu_fps": round(ort_stats.fps, 1), "detections_agreeing": f"{matched}/{total}"}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
