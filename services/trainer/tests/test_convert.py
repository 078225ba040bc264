"""`trainer convert`: from any .pt (the committed starter model here) to what `inference run --model`
runs, with no api, no run and no data root (issue 30)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_starter_model_converts_and_runs_without_api_or_data_root(tmp_path):
    from trainer import synth

    env = {k: v for k, v in os.environ.items() if not k.startswith("AZAION_") or k == "AZAION_ENV_FILE"}
    model = tmp_path / "out" / "starter.onnx"
    convert = [sys.executable, "-m", "trainer", "convert", str(REPO / "models" / "starter" / "yolo11n-synth.pt")]
    done = subprocess.run(
        [*convert, "--out", str(model), "--imgsz", "320"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert model.is_file() and f"python -m inference run --model {model}" in done.stdout
    assert sorted(p.name for p in model.parent.iterdir()) == ["starter.onnx"]  # its work folder is gone

    video = synth.write_flyover(tmp_path / "fly.mp4", seed=3, frames=4, fps=10.0)
    run = [sys.executable, "-m", "inference", "run", "--model", str(model), "--source", str(video)]
    done = subprocess.run(
        [*run, "--every", "1", "--json", str(tmp_path / "d.jsonl"), "--no-progress"],
        env=env | {"AZAION_ENV": "development"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines] == [0, 1, 2, 3]
    assert sum(len(line["detections"]) for line in lines) > 0  # the starter model finds the flyover's vehicles
