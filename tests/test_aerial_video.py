"""Aerial video with a model that detects (the committed starter model) on synthetic flyovers with
ground truth: tiles find small objects in 4K, merged boxes do not duplicate objects on tile borders,
tracks are scored with MOT metrics (motmetrics) also when frames are skipped, events are written, and
the command line refuses bad flags before it loads anything."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainer.synth import iou, score

REPO = Path(__file__).resolve().parent.parent
STARTER = REPO / "models" / "starter" / "yolo11n-synth.pt"


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZAION_") or k == "AZAION_ENV_FILE"}
    return env | {"AZAION_ENV": "development", "AZAION_LOG_LEVEL": "WARNING"} | extra


@pytest.fixture(scope="module")
def starter(tmp_path_factory):
    """The starter model exported to ONNX (batch 4) at 640 (for 4K tiles) and 320 (the flyover)."""
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("starter")
    exported = {}
    for imgsz in (640, 320):
        weights = folder / f"starter-{imgsz}.pt"  # exported beside a copy: nothing is written into the repo
        shutil.copyfile(STARTER, weights)
        exported[imgsz] = Path(YOLO(str(weights)).export(format="onnx", imgsz=imgsz, batch=4))
    return exported


def recall(found: dict[int, list], truth: dict[int, list]) -> float:
    """Share of ground-truth boxes matched (same class, IoU >= 0.5, greedy by confidence: synth.score)."""
    lines = [{"frame": frame, "detections": detections} for frame, detections in found.items()]
    scored = score(lines, [{"frame": frame, "boxes": boxes} for frame, boxes in truth.items()], 0.5)
    return scored["true_positives"] / (scored["true_positives"] + scored["missed"])


def duplicates(found: dict[int, list], truth: dict[int, list], views) -> tuple[int, int]:
    """(objects cut by a tile's border, extra detections of those objects): a second box of the same
    class with IoU >= 0.3 with one object is a duplicate."""
    straddling = extra = 0
    for frame, wanted in truth.items():
        for gt in wanted:
            box = (gt["x1"], gt["y1"], gt["x2"], gt["y2"])
            cut = any(
                box[0] < v.x + v.w
                and box[2] > v.x
                and box[1] < v.y + v.h
                and box[3] > v.y  # touches the tile
                and not (box[0] >= v.x and box[2] <= v.x + v.w and box[1] >= v.y and box[3] <= v.y + v.h)
                for v in views
            )
            if not cut:
                continue
            straddling += 1
            same = [d for d in found.get(frame, []) if d["class_id"] == gt["class_id"]]
            near = sum(1 for d in same if iou((d["x1"], d["y1"], d["x2"], d["y2"]), box) >= 0.3)
            extra += max(0, near - 1)
    return straddling, extra


def run_pipeline(onnx: Path, video: Path, tiles: str, merge=None) -> dict[int, list]:
    """Detections per frame of the real pipeline over the video (JSONL records' detections)."""
    import inference.pipeline as pipeline_module
    from inference.backends.onnx import OnnxRuntimeBackend
    from inference.pipeline import Pipeline
    from inference.sinks import Running, detections_record
    from inference.source import Source

    backend = OnnxRuntimeBackend(onnx.read_bytes())
    found: dict[int, list] = {}
    running = Running(backend.info)

    def keep(frame, detections):
        found[frame.index] = detections_record(frame, detections, running)["detections"]

    saved = pipeline_module.merge
    if merge is not None:
        pipeline_module.merge = merge
    try:
        with backend:
            Pipeline(backend, [], tiles=tiles, on_frame=keep).run(Source(str(video)))
    finally:
        pipeline_module.merge = saved
    return found


@pytest.mark.slow
def test_tiles_find_small_objects_in_4k_and_merge_those_on_tile_borders(starter, tmp_path):
    from inference.postprocess import Detections
    from inference.tiles import windows
    from trainer import synth

    video = synth.write_flyover(tmp_path / "4k.mp4", flyover=synth.Flyover.aerial_4k(seed=3, frames=5))
    truth = {
        r["frame"]: r["boxes"] for r in map(json.loads, video.with_name("4k.mp4.truth.jsonl").read_text().splitlines())
    }
    vehicles = [
        max(b["x2"] - b["x1"], b["y2"] - b["y1"]) for bs in truth.values() for b in bs if b["class_id"] in (1, 2, 6)
    ]
    assert np.mean([12 <= size <= 30 for size in vehicles]) >= 0.5, "most vehicles are meant to be 12-30 px long"
    onnx = starter[640]

    whole = run_pipeline(onnx, video, "off")
    tiled = run_pipeline(onnx, video, "auto")
    untiled_recall, tiled_recall = recall(whole, truth), recall(tiled, truth)
    print(f"\n4K flyover, starter model at 640: recall {untiled_recall:.3f} untiled, {tiled_recall:.3f} tiled")
    assert tiled_recall >= 0.6 and tiled_recall >= untiled_recall + 0.4

    views = windows((2160, 3840), (640, 640), "auto", 0.2, full_frame=False)
    straddling, extra = duplicates(tiled, truth, views)

    def concatenate(parts, threshold, max_det=300):  # what the frame would be without merging
        parts = [p for p in parts if len(p)]
        return Detections(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("boxes", "scores", "classes")))

    _, unmerged_extra = duplicates(run_pipeline(onnx, video, "auto", merge=concatenate), truth, views)
    print(f"{straddling} objects cut by tile borders: {extra} duplicates merged, {unmerged_extra} without merging")
    assert straddling >= 100
    assert extra <= 0.03 * straddling and unmerged_extra >= 10 * max(extra, 1)


def motmetrics_of(lines: list[dict], truth: dict[int, list]) -> dict:
    """MOTA, IDF1, ID switches of the tracked detections against the flyover's object ids (IoU >= 0.5)."""
    import motmetrics as mm

    accumulator = mm.MOTAccumulator(auto_id=True)
    for line in lines:
        wanted = truth[line["frame"]]
        tracked = [d for d in line["detections"] if d["track_id"] is not None]
        distances = np.full((len(wanted), len(tracked)), np.nan)
        for i, gt in enumerate(wanted):
            for j, d in enumerate(tracked):
                overlap = iou((gt["x1"], gt["y1"], gt["x2"], gt["y2"]), (d["x1"], d["y1"], d["x2"], d["y2"]))
                if overlap >= 0.5:
                    distances[i, j] = 1 - overlap
        accumulator.update([gt["id"] for gt in wanted], [d["track_id"] for d in tracked], distances)
    metrics = mm.metrics.create().compute(accumulator, metrics=["mota", "idf1", "num_switches"], name="run")
    row = metrics.to_dict("records")[0]
    return {
        "mota": round(float(row["mota"]), 3),
        "idf1": round(float(row["idf1"]), 3),
        "switches": int(row["num_switches"]),
    }


@pytest.mark.slow
def test_tracks_against_ground_truth_also_with_skipped_frames_and_events(starter, tmp_path):
    from trainer import synth

    video = synth.write_flyover(tmp_path / "flyover.mp4", seed=11, frames=60, fps=10.0)
    truth = {
        r["frame"]: r["boxes"]
        for r in map(json.loads, video.with_name("flyover.mp4.truth.jsonl").read_text().splitlines())
    }
    line = json.dumps([{"name": "middle", "points": [[320, 0], [320, 360]]}])
    results = {}
    for every, motion in ((1, True), (2, True), (2, False)):
        name = f"every{every}-{'cmc' if motion else 'raw'}"
        command = [sys.executable, "-m", "inference", "run", "--source", str(video), "--model", str(starter[320])]
        command += ["--every", str(every), "--json", str(tmp_path / f"{name}.jsonl"), "--no-progress"]
        command += ["--events", str(tmp_path / f"{name}.events.jsonl")]
        env = _env(AZAION_INFERENCE__LINES=line, AZAION_INFERENCE__TRACK_CAMERA_MOTION=str(motion).lower())
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        summary = json.loads(done.stdout)
        lines = [json.loads(x) for x in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        assert [x["frame"] for x in lines] == list(range(0, 60, every))
        results[name] = motmetrics_of(lines, truth) | {"tracks": len(summary["tracks"])}
        events = [json.loads(x) for x in (tmp_path / f"{name}.events.jsonl").read_text().splitlines()]
        ids = {d["track_id"] for x in lines for d in x["detections"] if d["track_id"] is not None}
        # every track appears once and leaves once; the summary has each with its frames and class
        assert sorted(e["track_id"] for e in events if e["event"] == "appeared") == sorted(ids)
        assert sorted(e["track_id"] for e in events if e["event"] == "left") == sorted(ids)
        assert {t["track_id"] for t in summary["tracks"]} == ids
        for track in summary["tracks"]:
            assert track["first_frame"] <= track["last_frame"] and track["class_name"] in synth.CLASSES.values()
        if motion:
            # the camera pans across the world: the vehicles in lanes cross the middle of the frame
            assert any(e["event"] == "crossed" and e["line"] == "middle" for e in events)
    print("\nMOT metrics on the flyover:", json.dumps(results))
    assert results["every1-cmc"]["mota"] >= 0.4 and results["every1-cmc"]["idf1"] >= 0.6, results
    assert results["every2-cmc"]["idf1"] >= results["every1-cmc"]["idf1"] - 0.15, results
    assert results["every2-cmc"]["switches"] <= 3, results
    # taking the camera's motion out is what keeps ids through skipped frames on a panning drone
    assert results["every2-cmc"]["idf1"] >= results["every2-raw"]["idf1"] + 0.2, results


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--every", "0"], "--every: '0' is not a count: expected a whole number of at least 1"),
        (["--every", "-2"], "--every: '-2' is not a count: expected a whole number of at least 1"),
        (["--conf", "1.5"], "--conf 1.5: Input should be less than 1"),
        (["--iou", "0"], "--iou 0.0: Input should be greater than 0"),
        (["--tiles", "3"], "--tiles 3: Value error, tiles '3': expected auto, off or ROWSxCOLUMNS such as 2x3"),
        (["--tile-overlap", "0.95"], "--tile-overlap 0.95: Input should be less than 0.9"),
        (["--backend", "tensorrt"], "--backend tensorrt cannot run model.onnx (a onnx model runs on onnxruntime)"),
        (["--no-track", "--events", "e.jsonl"], "--events needs tracking"),
    ],
)
def test_the_command_line_refuses_bad_flags_before_loading_anything(tmp_path, flags, message):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not a model: loading it would fail differently")
    command = [sys.executable, "-m", "inference", "run", "--source", str(tmp_path / "none.mp4"), "--model", str(model)]
    done = subprocess.run(
        [*command, "--json", str(tmp_path / "d.jsonl"), *flags],
        env=_env(),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "d.jsonl").exists()


def test_the_command_line_says_what_to_do_with_a_checkpoint_and_without_outputs(tmp_path):
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"torch")
    base = [sys.executable, "-m", "inference", "run", "--source", "0"]
    # outside development mode too: a local model file needs no api password
    env = _env(AZAION_ENV="production")
    done = subprocess.run(
        [*base, "--model", str(checkpoint), "--json", "d.jsonl"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2 and "export it first" in done.stderr and "python -m trainer export" in done.stderr
    done = subprocess.run([*base, "--model", str(checkpoint)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "choose at least one output" in done.stderr
