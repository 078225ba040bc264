"""The parts of aerial video without a model: tile windows, merging across tile borders, the pipeline's
views, tracking through skipped frames and a panning camera, track events."""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np
import pytest

from azaion_shared.model_info import ModelInfo
from inference.backends.base import Backend
from inference.events import EventLog, Events
from inference.letterbox import rect_size
from inference.motion import CameraMotion
from inference.pipeline import Pipeline
from inference.postprocess import Detections
from inference.settings import InferenceOptions, Line, Zone
from inference.source import Frame
from inference.tiles import merge, parse, windows
from inference.tracking import Tracking

INFO = ModelInfo(names={0: "person", 1: "car"})


def covered(views, height, width) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    for v in views:
        mask[v.y : v.y + v.h, v.x : v.x + v.w] = True
    return mask


@pytest.mark.parametrize(
    ("frame", "model", "spec", "tiles"),
    [
        ((2160, 3840), (640, 640), "auto", 32),  # 4K on 640: 8 x 4 tiles of exactly 640
        ((2160, 3840), (1280, 1280), "auto", 8),  # 4K on 1280: 4 x 2
        ((1080, 1920), (1280, 1280), "auto", 1),  # 1080p on 1280: shrunk by 1.5 only, no tiles
        ((360, 640), (320, 320), "auto", 1),  # shrunk by exactly 2: no tiles
        ((1080, 1920), (640, 640), "2x3", 6),
        ((300, 300), (640, 640), "off", 1),
    ],
)
def test_windows_cover_the_frame_with_overlap(frame, model, spec, tiles):
    views = windows(frame, model, spec, overlap=0.2, full_frame=True)
    whole = views[-1]
    assert (whole.x, whole.y, whole.w, whole.h) == (0, 0, frame[1], frame[0])
    assert len(views) == (tiles + 1 if tiles > 1 else 1)
    grid = views[:-1] if tiles > 1 else views
    assert covered(grid, *frame).all()
    for view in grid:
        assert view.x + view.w <= frame[1] and view.y + view.h <= frame[0]
        if spec == "auto" and tiles > 1:
            assert (view.h, view.w) == model  # native resolution: the model sees the pixels as they are
    if tiles > 1:  # neighbours share at least the overlap
        xs = sorted({v.x for v in grid})
        assert all(b - a <= grid[0].w * 0.8 + 1 for a, b in itertools.pairwise(xs))
    assert windows(frame, model, spec, 0.2, full_frame=False)[-1] != whole or tiles == 1


def test_tile_specs_are_checked():
    assert parse("auto") == "auto" and parse("3x4") == (3, 4)
    for bad in ("4", "0x2", "2x", "axb", "2 x 2"):
        with pytest.raises(ValueError, match="ROWSxCOLUMNS"):
            parse(bad)
    with pytest.raises(ValueError):
        InferenceOptions(tiles="2x")


def dets(*rows) -> Detections:
    rows = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(rows[:, :4].copy(), rows[:, 4].copy(), rows[:, 5].astype(np.int64))


def test_merge_joins_an_object_cut_by_a_tile_border_and_keeps_neighbours_apart():
    # a car 30 px long across the border x=640: whole in tile A, its right half cut off in tile B;
    # a second car beside it (no overlap) and a person inside the first car's box (another class)
    tile_a = dets([625, 100, 655, 112, 0.9, 1], [660, 100, 690, 112, 0.8, 1], [630, 101, 640, 111, 0.6, 0])
    tile_b = dets([640, 100, 655, 112, 0.7, 1])
    merged = merge([tile_a, tile_b], threshold=0.5)
    assert len(merged) == 3
    cars = merged.boxes[merged.classes == 1]
    assert sorted(cars[:, 0].tolist()) == [625, 660] and cars[:, 2].max() == 690
    assert merged.scores[0] == pytest.approx(merged.scores.max())  # most confident first
    assert len(merge([tile_a], 0.5)) == 3 and len(merge([Detections.empty(), Detections.empty()], 0.5)) == 0


def test_rect_size_pads_to_the_stride_like_ultralytics():
    assert rect_size((354, 622), (640, 640)) == (384, 640)
    assert rect_size((360, 640), (640, 640)) == (384, 640)
    assert rect_size((640, 640), (640, 640)) == (640, 640)
    h, w = rect_size((1080, 1920), (1280, 1280))
    assert (h, w) == (736, 1280) and h % 32 == 0


class Boxes(Backend):
    """A model that reports one box at the centre of every input it gets, recording the input shapes."""

    name = "boxes"
    batch, input_size, info = 4, (64, 64), ModelInfo(names={0: "person"})

    def __init__(self):
        super().__init__()
        self.shapes = []

    def _run(self, images):
        self.shapes.append(images.shape)
        out = np.zeros((len(images), 5, 1), np.float32)
        out[:, :4, 0] = [32, 32, 8, 8]
        out[:, 4, 0] = 0.9
        return out


def test_the_pipeline_batches_tiles_across_frames_and_emits_whole_frames():
    backend = Boxes()
    seen = []
    pipeline = Pipeline(backend, [], tiles="2x3", tile_full_frame=True, on_frame=lambda f, d: seen.append((f, d)))
    frames = [Frame(i, i * 100.0, np.full((192, 320, 3), 40, np.uint8)) for i in range(5)]
    stats = pipeline.run(iter(frames))
    assert [f.index for f, _ in seen] == [0, 1, 2, 3, 4]
    assert stats.views == 5 * 7 and stats.frames == 5
    assert sum(s[0] for s in backend.shapes) == 36  # 9 batches of 4 (the last one padded)
    # every tile's centre box is in frame pixels: 6 distinct centres + the whole frame's, none merged away
    for _, detections in seen:
        assert len(detections) == 7
        assert detections.boxes[:, 2].max() <= 320 and detections.boxes[:, 3].max() <= 192


def moving_boxes(steps: int, every: int, pan: float = 0.0):
    """Five cars 24 px long driving right at 3 px a frame in two rows, on a camera panning ``pan`` px a frame."""
    for frame in range(0, steps * every, every):
        rows = []
        for car in range(5):
            x = 40 + car * 60 + 3 * frame - pan * frame
            y = 100 + (car % 2) * 40
            rows.append([x, y, x + 24, y + 10, 0.9, 1])
        yield frame, dets(*rows)


@pytest.mark.parametrize("every", [1, 2, 4])
def test_ids_hold_through_skipped_frames(every):
    tracking = Tracking(InferenceOptions(track_camera_motion=False), fps=10 / every)
    ids = []
    for index, detections in moving_boxes(12, every):
        tracked = tracking.step(Frame(index, index * 100.0, np.zeros((8, 8, 3), np.uint8)), detections, INFO)
        ids.append(tracked.track_ids.tolist())
    assert ids[0] == [-1] * 5  # a track needs two looks before it has an id
    assert all(row == ids[1] for row in ids[1:]) and sorted(ids[1]) == [1, 2, 3, 4, 5]
    summary = tracking.summary(INFO)
    assert [t["track_id"] for t in summary] == [1, 2, 3, 4, 5]
    first = summary[0]
    assert first["class_name"] == "car" and first["first_frame"] == every and first["detections"] == 11
    assert first["path_px"] == pytest.approx(3 * every * 10, abs=1)


def textured(seed: int, shape=(360, 640)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (shape[0] // 8, shape[1] // 8, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), (3, 3), 0)


def test_camera_motion_is_measured_and_taken_out():
    world = textured(1, (400, 1200))
    motion = CameraMotion()
    for step in range(6):  # the camera pans 37 px a frame to the right
        x = 37 * step
        motion.update(world[20:380, x : x + 640].copy())
        ground = motion.to_ground(np.array([[300.0 - x, 100.0, 320.0 - x, 110.0]], np.float32))
        assert ground[0] == pytest.approx([300, 100, 320, 110], abs=1.5)  # the same spot on the ground


def test_events_appeared_crossed_entered_exited_left(tmp_path):
    options = InferenceOptions(
        lines=[Line(name="gate", points=((150, 0), (150, 400)))],
        zones=[Zone(name="yard", points=[(200, 0), (260, 0), (260, 400), (200, 400)])],
        track_seconds=0.3,
        track_camera_motion=False,
    )
    log = EventLog(tmp_path / "events.jsonl")
    tracking = Tracking(options, fps=10, events=Events(log, options.lines, options.zones))
    blank = np.zeros((8, 8, 3), np.uint8)
    for index in range(40):  # one car drives right 10 px a frame through the line and the zone, then is gone
        x = 100 + 10 * index
        detections = dets([x, 100, x + 24, 110, 0.9, 1]) if index < 20 else Detections.empty()
        tracking.step(Frame(index, index * 100.0, blank), detections, INFO)
    tracking.finish(INFO)
    log.close()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    kinds = [(e["event"], e.get("line") or e.get("zone")) for e in events]
    assert kinds == [("appeared", None), ("crossed", "gate"), ("entered", "yard"), ("exited", "yard"), ("left", None)]
    assert {e["track_id"] for e in events} == {1}
    crossed = events[1]
    assert crossed["direction"] in ("in", "out") and 150 <= crossed["x"] <= 170
    left = events[-1]
    assert left["end"] is False and left["frame"] == 19  # the last frame it was seen
    entered, exited = events[2], events[3]
    assert 200 <= entered["x"] <= 212 and 260 <= exited["x"] <= 272
