"""Edge inference on the CPU, like for like with ultralytics on the same ONNX model and video.

The model is the committed starter model (yolo11n; it detects the synthetic scenes, so the trackers
have objects to follow) exported to ONNX with batch 1 at BENCH_INFERENCE_IMGSZ (320) and, for the
tracking row at 640 px, at 640. The video is the synthetic flyover (``trainer.synth``: a panning
drone over cars and people), BENCH_INFERENCE_FRAMES (120) frames of 1280x720 at 25 fps. Every side
decodes and processes every frame, writes nothing, and uses conf 0.25 and IoU 0.7.

- ours with ``--no-track`` against ``YOLO.predict(stream=True)``;
- ours with tracking (the default: camera motion and ByteTrack) against
  ``YOLO.track(stream=True, tracker="bytetrack.yaml", persist=True)``.
Each side runs once to warm up, then the four run in turn, five times (interleaved, so that the
machine's slow moments fall on every side alike); the median of the five counts. Goal (issue 29):
>= 1.0 x each.

Tracking's cost: our tracking stage (camera motion, ByteTrack, track records) run alone over the
frames and detections of a pipeline run, per frame, against the model's time per frame in that run
(the faster of three passes; with two batches run at once, the model's time per frame is half of each
run's). Goal: <= 10 % at 320 px, <= 5 % at 640 px. Overhead = 1 - time inside ONNX Runtime / (wall time
x batches run at once) of our pipeline without tracking (goal <= 15 %). Ours opens the model as
``inference run --model`` does, with its defaults: two batches at once, a core each, on this CPU.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import Row

FRAMES = int(os.environ.get("BENCH_INFERENCE_FRAMES", "120"))
IMGSZ = int(os.environ.get("BENCH_INFERENCE_IMGSZ", "320"))
RUNS = 5
STARTER = Path(__file__).resolve().parent.parent / "models" / "starter" / "yolo11n-synth.pt"


def export(workdir: Path, imgsz: int) -> Path:
    os.environ.setdefault("YOLO_OFFLINE", "true")
    from ultralytics import YOLO

    weights = workdir / f"starter-{imgsz}.pt"  # exported beside a copy: nothing is written into the repo
    shutil.copyfile(STARTER, weights)
    return Path(YOLO(str(weights)).export(format="onnx", imgsz=imgsz, batch=1))


def make_video(workdir: Path) -> Path:
    from trainer import synth

    return synth.write_flyover(workdir / "flyover.mp4", seed=11, frames=FRAMES, fps=25.0, size=(1280, 720))


class Ours:
    def __init__(self, model: Path):
        from inference.backends.onnx import open_model
        from inference.settings import InferenceOptions
        from inference.store import load_file

        # as `inference run --model` opens it: its defaults (two batches at once on a CPU of 2+ cores)
        self.backend = open_model(load_file(model, None), InferenceOptions())

    def run(self, video: Path, track: bool, on_frame=None):
        from inference.pipeline import Pipeline
        from inference.settings import InferenceOptions
        from inference.source import Source
        from inference.tracking import Tracking

        source = Source(str(video))
        tracking = Tracking(InferenceOptions(), source.fps) if track else None
        stats = Pipeline(self.backend, [], conf=0.25, iou=0.7, tracking=tracking, on_frame=on_frame).run(source)
        assert stats.frames == FRAMES, stats.frames
        return stats


class Theirs:
    def __init__(self, model: Path, imgsz: int):
        from ultralytics import YOLO

        self.model, self.imgsz = model, imgsz
        self.predictor, self.tracker = YOLO(str(model), task="detect"), YOLO(str(model), task="detect")

    def run(self, video: Path, track: bool) -> float:
        """Wall seconds for the whole video."""
        common = {"stream": True, "conf": 0.25, "iou": 0.7, "imgsz": self.imgsz, "verbose": False, "device": "cpu"}
        started = time.perf_counter()
        if track:
            results = self.tracker.track(str(video), tracker="bytetrack.yaml", persist=True, **common)
        else:
            results = self.predictor.predict(str(video), **common)
        count = sum(1 for _ in results)
        assert count == FRAMES, count
        return time.perf_counter() - started


def like_for_like(model: Path, video: Path) -> dict[str, list[float]]:
    ours, theirs = Ours(model), Theirs(model, IMGSZ)
    walls: dict[str, list[float]] = {"ours": [], "predict": [], "ours-track": [], "track": [], "overhead": []}
    for warm in (True, *([False] * RUNS)):
        for track in (False, True):
            their_wall = theirs.run(video, track)
            stats = ours.run(video, track)
            if warm:
                continue
            walls["track" if track else "predict"].append(their_wall)
            walls["ours-track" if track else "ours"].append(stats.wall_seconds)
            if not track:
                walls["overhead"].append(stats.overhead)
    return walls


def tracking_share(model: Path, video: Path) -> tuple[float, float, float]:
    """(tracking alone per frame, model per frame, detections per frame), in seconds."""
    from azaion_shared.model_info import ModelInfo
    from inference.settings import InferenceOptions
    from inference.tracking import Tracking

    ours = Ours(model)
    kept = []
    stats = ours.run(video, track=False, on_frame=lambda frame, detections: kept.append((frame, detections)))
    info = ours.backend.info or ModelInfo()
    best = float("inf")
    for _ in range(3):
        tracking = Tracking(InferenceOptions(), 25.0)
        started = time.perf_counter()
        for frame, detections in kept:
            tracking.step(frame, detections, info)
        best = min(best, time.perf_counter() - started)
    detections = sum(len(d) for _, d in kept) / len(kept)
    # the model's time per frame as the pipeline delivers frames: with two batches at once, half of each
    # run's time (the stricter measure: each single-threaded run takes longer than one on all cores)
    return best / len(kept), stats.model_seconds / stats.frames / stats.runs_at_once, detections


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        workdir = Path(tmp)
        video = make_video(workdir)
        model = export(workdir, IMGSZ)
        walls = like_for_like(model, video)
        shares = {IMGSZ: tracking_share(model, video)}
        shares[640] = tracking_share(export(workdir, 640), video) if IMGSZ != 640 else shares[IMGSZ]
    fps = {side: FRAMES / statistics.median(values) for side, values in walls.items() if side != "overhead"}
    print(", ".join(f"{side} {value:.1f} fps" for side, value in fps.items()))
    rows = []
    what = f"{FRAMES} frames 1280x720, starter yolo11n ONNX {IMGSZ} px batch 1, CPU; median of {RUNS} interleaved"
    pairs = (("ours", "predict", "predict(stream=True)"), ("ours-track", "track", "track(bytetrack)"))
    for mine, theirs, name in pairs:
        ratio = fps[mine] / fps[theirs]
        rows.append(
            Row(
                f"inference{' with tracking' if 'track' in mine else ' --no-track'} vs ultralytics {name} ({what})",
                ">= 1.0 x",
                f"{ratio:.2f} x ({fps[mine]:.1f} vs {fps[theirs]:.1f} fps; each run, ours/theirs s: "
                + ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(walls[mine], walls[theirs], strict=True))
                + ")",
                ratio >= 1.0,
            )
        )
    for imgsz, goal in ((IMGSZ, 0.10), (640, 0.05)):
        alone, per_model, detections = shares[imgsz]
        share = alone / per_model
        rows.append(
            Row(
                f"tracking (camera motion, ByteTrack, records) per frame vs the model per frame, {imgsz} px",
                f"<= {goal:.0%}",
                f"{share:.1%} ({alone * 1000:.2f} ms vs {per_model * 1000:.1f} ms; "
                f"{detections:.1f} detections a frame)",
                share <= goal,
            )
        )
    overhead = statistics.median(walls["overhead"])
    rows.append(Row("inference pipeline overhead (--no-track)", "<= 15 %", f"{overhead:.1%}", overhead <= 0.15))
    return rows
