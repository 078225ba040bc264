"""The synthetic aerial scene generator: deterministic, labels that sit on what is drawn, a flyover
whose ground truth follows the moving vehicles."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np

from trainer import synth
from trainer.classes import load_classes


def test_scenes_are_deterministic_and_differ_by_seed():
    a, boxes_a = synth.scene(7)
    b, boxes_b = synth.scene(7)
    c, _ = synth.scene(8)
    assert np.array_equal(a, b) and boxes_a == boxes_b
    assert not np.array_equal(a, c)
    assert a.shape == (320, 320, 3) and a.dtype == np.uint8


def test_labels_are_the_projects_classes_and_sit_on_drawn_objects():
    known = load_classes()
    seen = set()
    for seed in range(30):
        image, boxes = synth.scene(seed)
        ground_only, _ = synth.scene(seed, objects=False)  # the same scene without its objects
        for box in boxes:
            seen.add(box.cls)
            assert known[box.cls] == synth.CLASSES[box.cls]
            assert 0 <= box.x1 < box.x2 <= 320 and 0 <= box.y1 < box.y2 <= 320
            x1, y1, x2, y2 = int(box.x1), int(box.y1), int(np.ceil(box.x2)), int(np.ceil(box.y2))
            inside = image[y1:y2, x1:x2].astype(int) - ground_only[y1:y2, x1:x2].astype(int)
            assert np.abs(inside).max() > 40, f"seed {seed}: nothing drawn in {box}"  # an object, not ground
    assert seen == set(synth.CLASSES)  # every class appears in 30 scenes


def test_write_dataset_writes_yolo_pairs(tmp_path):
    synth.write_dataset(tmp_path, 5, seed=3, size=256)
    images = sorted((tmp_path / "images").glob("*.jpg"))
    labels = sorted((tmp_path / "labels").glob("*.txt"))
    assert len(images) == len(labels) == 5
    assert [p.stem for p in images] == [p.stem for p in labels]
    assert cv2.imread(str(images[0])).shape == (256, 256, 3)
    for label in labels:
        for line in label.read_text().splitlines():
            cls, *values = line.split()
            assert int(cls) in synth.CLASSES and all(0 <= float(v) <= 1 for v in values)


def test_flyover_ground_truth_follows_the_moving_vehicles(tmp_path):
    video = synth.write_flyover(tmp_path / "flyover.mp4", seed=1, frames=40, fps=10.0)
    truth = [json.loads(line) for line in video.with_name("flyover.mp4.truth.jsonl").read_text().splitlines()]
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == len(truth) == 40
    assert [t["frame"] for t in truth] == list(range(40))
    assert sum(len(t["boxes"]) for t in truth) > 40  # objects in view
    flyover = synth.Flyover(1, frames=40)
    matched = set()
    for index, record in enumerate(truth):
        m = flyover.camera(index)
        for n, thing in enumerate(flyover.moving):
            x1, y1, x2, y2 = thing.at(index).box()
            (a, b), (c, d) = np.array([[x1, y1], [x2, y2]]) @ m[:, :2].T + m[:, 2]
            if a >= 0 and b >= 0 and c <= 640 and d <= 360:  # wholly in view: its box is in the truth
                found = [t for t in record["boxes"] if t["class_id"] == thing.cls]
                assert any(iou((a, b, c, d), (t["x1"], t["y1"], t["x2"], t["y2"])) > 0.95 for t in found), index
                matched.add(n)
    assert len(matched) >= 3  # several moving vehicles were seen and followed


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union else 0.0


def test_cli_writes_a_dataset_and_a_flyover(tmp_path):
    run = [sys.executable, "-m", "trainer", "synth"]
    done = subprocess.run(
        [*run, "dataset", "--out", str(tmp_path / "ds"), "--count", "3", "--seed", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "ds" / "images").glob("*.jpg"))) == 3 and "3 scenes" in done.stdout
    done = subprocess.run(
        [*run, "flyover", "--out", str(tmp_path / "fly.mp4"), "--frames", "12"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fly.mp4.truth.jsonl").read_text().count("\n") == 12 and "synthetic" in done.stdout


def test_score_counts_matches_by_class_and_iou():
    truth = [
        {
            "frame": 0,
            "boxes": [
                {"class_id": 1, "x1": 0, "y1": 0, "x2": 10, "y2": 10},
                {"class_id": 2, "x1": 20, "y1": 20, "x2": 40, "y2": 30},
            ],
        },
        {"frame": 1, "boxes": [{"class_id": 1, "x1": 5, "y1": 5, "x2": 15, "y2": 15}]},
    ]

    def det(cls, x1, y1, x2, y2, conf=0.9):
        return {"class_id": cls, "confidence": conf, "x1": x1, "y1": y1, "x2": x2, "y2": y2}

    detections = [
        {"frame": 0, "detections": [det(1, 1, 0, 10, 10), det(1, 0, 0, 10, 10, 0.5), det(6, 20, 20, 40, 30)]},
        {"frame": 1, "detections": [det(1, 5, 5, 15, 15)]},
    ]
    found = synth.score(detections, truth)
    # frame 0: the car once (its duplicate is a false positive), the truck called an armoured vehicle;
    # frame 1: the car
    assert (found["true_positives"], found["false_positives"], found["missed"]) == (2, 2, 1)
    assert found["precision"] == 0.5 and found["recall"] == 0.667 and found["frames"] == 2


def test_the_command_line_says_how_far_along_it_is_off_a_terminal(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZAION_") or k == "AZAION_ENV_FILE"}
    for argv, said in [
        (["dataset", "--out", str(tmp_path / "d"), "--count", "3", "--size", "96"], "synth dataset: 3 scenes in "),
        (["flyover", "--out", str(tmp_path / "f.mp4"), "--frames", "4"], "synth flyover: 4 frames in "),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "trainer", "synth", *argv], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert said in done.stderr and "\r" not in done.stderr  # a line, not a bar redrawn into a pipe
