"""The demo end to end, smaller: every stage's output is checked, and a second run starts afresh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import cv2
import pytest

from trainer import synth

REPO = Path(__file__).resolve().parent.parent


def run_demo(root: Path, stream: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZAION_") or k == "AZAION_ENV_FILE"} | {
        "DEMO_ROOT": str(root),
        "DEMO_STREAM": stream,
        "DEMO_EPOCHS": "1",
        "DEMO_SCENES": "6",
        "DEMO_FRAMES": "24",
        "YOLO_OFFLINE": "true",
        "YOLO_AUTOINSTALL": "false",
    }
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py")], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.broker
@pytest.mark.slow
def test_demo_runs_every_stage_twice(rabbit, tmp_path):
    root, stream = tmp_path / "demo", f"demo-test-{uuid.uuid4().hex[:8]}"
    for attempt in (1, 2):
        done = run_demo(root, stream)
        assert done.returncode == 0, f"run {attempt}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        summary = json.loads((root / "summary.json").read_text())
        # 6 synthetic scenes; one deleted; one malformed message rejected
        assert summary["stream"] == {"created": 6, "validated": 1, "deleted": 1, "malformed": 1}
        assert summary["ingestor"] == {"data": 5, "data_deleted": 1, "data_rejected": 1}
        assert summary["augmentor"] == {"processed_images": 40, "annotations": 5}
        trainer = summary["trainer"]
        assert sum(trainer["dataset"].values()) > 0 and 0 <= trainer["map50_95"] <= trainer["map50"] <= 1
        assert trainer["weights"] == "yolo11n-synth.pt"  # fine-tuned from the starter, not from scratch
        assert summary["published"]["artifacts"] == ["azaion.v1.onnx"] and summary["published"]["small"] <= 3072
        assert summary["published"]["channel"] == "stable -> 1"
        assert summary["inference"]["model_versions"] == [1]
        inference = summary["inference"]
        assert inference["frames"] == 12 and inference["backend"] == "onnxruntime"
        assert summary["edge_cache_plaintext_files"] == 0
        assert set(summary["seconds"]) == {"publish", "ingest", "augment", "train", "evaluate", "inference", "console"}
        evaluation = trainer["evaluation"]  # figures with enough images behind them
        assert evaluation["images"] >= 100 and 0 <= evaluation["map50_95"] <= evaluation["map50"] <= 1
        lines = [json.loads(line) for line in (root / "edge" / "detections.jsonl").read_text().splitlines()]
        assert [line["frame"] for line in lines] == list(range(0, 24, 2))
        # the boxes follow the vehicles: the JSONL scored against the flyover's ground truth
        truth = [json.loads(line) for line in (root / "edge" / "flyover.mp4.truth.jsonl").read_text().splitlines()]
        score = synth.score(lines, truth, 0.5)
        assert {k: inference[k] for k in score} == score
        assert score["moving_recall"] >= 0.5 and score["recall"] >= 0.5 and score["precision"] >= 0.5, score
        # the objects are followed: every track appears in the events, and leaves
        assert inference["tracks"], "no object was tracked"
        events = [json.loads(line) for line in (root / "edge" / "events.jsonl").read_text().splitlines()]
        tracked = {t["track_id"] for t in inference["tracks"]}
        assert {e["track_id"] for e in events if e["event"] == "appeared"} == tracked
        assert {e["track_id"] for e in events if e["event"] == "left"} == tracked
        capture = cv2.VideoCapture(str(root / "edge" / "annotated.mp4"))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
        for png in ("contact-sheet.png", "processed-grid.png", "console-overview.png", "console-run.png"):
            assert cv2.imread(str(root / png)) is not None, png
        assert "=== demo summary ===" in done.stdout and "stopped every process" in done.stdout
    # nothing the demo started is left running
    left = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True).stdout.split()
    assert not left, f"processes of the demo still running: {left}"
