"""The threaded pipeline: every Nth frame, batches with a padded last one, errors, outputs."""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest

from azaion_shared.model_info import ModelInfo
from inference.backends.base import Backend
from inference.pipeline import Pipeline
from inference.sinks import JsonlSink, VideoSink
from inference.source import Source


class Recording(Backend):
    """A model whose single box sits where the frame's index is written (pixel [0, 0, 0])."""

    name = "recording"

    def __init__(self, batch=4, size=(64, 64), fixed=True, fail_at=None, names=None):
        super().__init__()
        self._batch, self._size, self._fixed, self.fail_at = batch, size, fixed, fail_at
        self.names = names or {0: "person"}
        self.seen: list[int] = []
        self.shapes: set[tuple] = set()
        self.closed = 0

    batch = property(lambda self: self._batch)
    input_size = property(lambda self: self._size)
    fixed_batch = property(lambda self: self._fixed)
    info = property(lambda self: ModelInfo(names=self.names))

    def close(self):
        self.closed += 1

    def _run(self, images):
        self.seen.append(len(images))
        self.shapes.add(images.shape[1:])
        if self.fail_at is not None and len(self.seen) == self.fail_at:
            raise RuntimeError("the model broke")
        out = np.zeros((len(images), 5, 2), np.float32)
        out[:, :4, 0] = [32, 32, 10, 10]
        out[:, 4, 0] = (
            0.5 + images[:, images.shape[1] // 2, images.shape[2] // 2, 0] / 1000
        )  # a score that says which frame it was
        return out


def write_video(path, count, size=(96, 64), fps=10.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    for i in range(count):
        frame = np.full((size[1], size[0], 3), i * 8 % 256, np.uint8)
        writer.write(frame)
    writer.release()
    return path


@pytest.mark.parametrize(("frames", "every", "batch", "expected"), [(23, 4, 4, 6), (10, 1, 4, 10), (9, 3, 2, 3)])
def test_every_nth_frame_in_batches_with_a_padded_last_one(tmp_path, frames, every, batch, expected):
    video = write_video(tmp_path / "in.mp4", frames)
    backend = Recording(batch=batch)
    seen = []
    source = Source(str(video), every=every)
    assert source.total == expected
    stats = Pipeline(backend, [], on_frame=lambda f, d: seen.append(f.index)).run(source)
    assert seen == list(range(0, frames, every))
    full, rest = divmod(expected, batch)
    assert backend.seen == [batch] * (full + (1 if rest else 0))  # the short batch was padded to a full one
    assert stats.frames == expected and stats.batches == full + (1 if rest else 0)
    assert stats.detections == expected and stats.model_seconds > 0
    assert 0 <= stats.overhead < 1


def test_a_dynamic_batch_model_gets_the_short_batch_unpadded(tmp_path):
    video = write_video(tmp_path / "in.mp4", 6)
    backend = Recording(batch=4, fixed=False)
    Pipeline(backend, []).run(Source(str(video), every=1))
    assert backend.seen == [4, 2]


def test_a_model_error_stops_everything_and_is_raised(tmp_path):
    video = write_video(tmp_path / "in.mp4", 40)
    backend = Recording(batch=2, fail_at=3)
    with pytest.raises(RuntimeError, match="the model broke"):
        Pipeline(backend, [], queue_size=1).run(Source(str(video), every=1))


def test_outputs_jsonl_and_mp4(tmp_path):
    video = write_video(tmp_path / "in.mp4", 12, size=(160, 96))
    backend = Recording(batch=4)
    jsonl, mp4 = tmp_path / "out" / "dets.jsonl", tmp_path / "out" / "annotated.mp4"
    sinks = [JsonlSink(jsonl), VideoSink(mp4, fps=5.0)]
    Pipeline(backend, sinks).run(Source(str(video), every=2))
    for sink in sinks:
        sink.close()
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [line["frame"] for line in lines] == [0, 2, 4, 6, 8, 10]
    assert lines[1]["time_ms"] == pytest.approx(200.0)
    first = lines[0]
    assert (first["width"], first["height"]) == (160, 96)
    (det,) = first["detections"]
    assert det["class_id"] == 0 and det["class_name"] == "person" and det["confidence"] == pytest.approx(0.5)
    # the 64x64 input holds the 160x96 frame as 64x38 (gains 0.4 and 38/96) under 13 pixels of padding:
    # the box 27..37 x 27..37 maps to 67.5..92.5 x (27-13)*96/38..(37-13)*96/38
    expected = (67.5, round(14 * 96 / 38, 2), 92.5, round(24 * 96 / 38, 2))
    assert (det["x1"], det["y1"], det["x2"], det["y2"]) == pytest.approx(expected)
    capture = cv2.VideoCapture(str(mp4))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    ok, frame = capture.read()
    assert ok and frame.shape == (96, 160, 3)
    assert not list(mp4.parent.glob(".*part*"))


def test_image_folder_source_and_clear_errors(tmp_path):
    from inference.errors import SourceError

    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((40, 60, 3), i * 40, np.uint8))
    source = Source(str(tmp_path), every=2)
    assert [f.index for f in source] == [0, 2, 4]
    with pytest.raises(SourceError, match="no such file"):
        Source(str(tmp_path / "missing.mp4"))
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(SourceError, match="cannot open"):
        Source(str(tmp_path / "broken.mp4"))


def test_a_swap_between_two_frames_loses_none_and_every_frame_says_its_model(tmp_path):
    """A new model handed in mid-run (at frame 9, from the outputs' thread: a hook, not a timer) takes over
    at the next batch; every frame is processed once, by one model, and reported with its version."""
    video = write_video(tmp_path / "in.mp4", 40)
    old, new = Recording(batch=4, size=(64, 64)), Recording(batch=2, size=(32, 32), fixed=False, names={0: "car"})
    jsonl = tmp_path / "dets.jsonl"
    sink = JsonlSink(jsonl)
    pipeline = Pipeline(old, [sink], queue_size=1, version=1)

    def hook(frame, detections):
        if frame.index == 9:
            pipeline.swap(new, 2)

    pipeline.on_frame = hook
    stats = pipeline.run(Source(str(video), every=1))
    sink.close()
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(40))  # no gap, no repeat
    versions = [line["model_version"] for line in lines]
    cut = versions.index(2)
    assert 10 <= cut <= 24 and set(versions[:cut]) == {1} and set(versions[cut:]) == {2}
    assert all(d["class_name"] == "car" for line in lines[cut:] for d in line["detections"])
    assert new.shapes == {(32, 32, 3)} and old.shapes == {(64, 64, 3)}  # each got frames letterboxed for it
    assert old.closed == 1 and new.closed == 0 and pipeline.backend is new and pipeline.swaps == 1
    assert stats.versions == [1, 2] and stats.frames == 40
    pipeline.close()
    assert new.closed == 1


def test_a_newer_swap_replaces_one_not_yet_adopted(tmp_path):
    first, second = Recording(), Recording()
    pipeline = Pipeline(Recording(), [], version=1)
    pipeline.swap(first, 2)
    pipeline.swap(second, 3)
    assert first.closed == 1  # never ran, closed at once
    pipeline.run(Source(str(write_video(tmp_path / "in.mp4", 4)), every=1))
    assert pipeline.backend is second and pipeline.model.version == 3 and second.seen


class FakeClock:
    """A clock that moves only when the source sleeps (or the test says), so pacing is checked exactly."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_realtime_plays_a_file_at_its_frame_rate_and_never_early(tmp_path):
    from inference.errors import SourceError

    video = write_video(tmp_path / "in.mp4", 6, fps=10.0)
    clock = FakeClock()
    handed = []
    for frame in Source(str(video), every=2, realtime=True, clock=clock, sleep=clock.sleep):
        handed.append((frame.index, round(clock.now - 100.0, 6)))
        clock.now += 0.05  # the model's time: shorter than the gap to the next frame taken
    assert handed == [(0, 0.0), (2, 0.2), (4, 0.4)]  # frame N at N / fps, skipped frames keep their slot

    late = FakeClock()
    for _frame in Source(str(video), realtime=True, clock=late, sleep=late.sleep):
        late.now += 0.5  # a model slower than the video: nothing is dropped, nothing waits
    assert late.sleeps == []

    assert [f.index for f in Source(str(video), every=1)] == list(range(6))  # default: as fast as it goes
    cv2.imwrite(str(tmp_path / "still.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SourceError, match="--realtime plays a video file"):
        Source(str(tmp_path / "still.jpg"), realtime=True)


def test_lines_and_zones_are_counted_and_drawn_without_an_events_file():
    from contextlib import ExitStack
    from types import SimpleNamespace

    from inference.edge import _events
    from inference.settings import InferenceOptions, Line, Zone

    options = InferenceOptions(
        lines=[Line(name="bridge", points=((10, 50), (90, 50)))],
        zones=[Zone(name="gate", points=[(10, 10), (40, 10), (40, 40)])],
    )
    with ExitStack() as stack:
        events = _events(SimpleNamespace(events=None), options, stack)
        assert events is not None and events.log is None  # counting, writing nothing
        image = np.zeros((100, 100, 3), np.uint8)
        events.draw(image)
        assert (image[50, 30:80] > 200).all()  # the line
        assert _events(SimpleNamespace(events=None), InferenceOptions(), stack) is None  # nothing to count


class TwoAtOnce(Recording):
    """Runs two batches at once; the first of each pair waits until the second has run (a barrier, not a
    timer), so the second always finishes first."""

    def __init__(self):
        super().__init__(batch=1)
        self.allow_runs(2)
        self.second_done = threading.Event()
        self.overlapped = 0
        self.threads: set[int] = set()

    def _run(self, images):
        index = round(int(images[0, images.shape[1] // 2, images.shape[2] // 2, 0]) / 20)  # the frame its fill says
        self.threads.add(threading.get_ident())
        if index % 2 == 0:
            if not self.second_done.wait(timeout=10):
                raise RuntimeError("the second batch of the pair never ran beside the first")
            self.second_done.clear()
            self.overlapped += 1
        else:
            self.second_done.set()
        return super()._run(images)


def test_two_batches_at_once_come_out_in_the_order_they_went_in(tmp_path):
    """A backend that runs two batches at once gets two model threads; batches that finish out of order
    are emitted in order, every frame once, and the model time counts both runs."""
    video = tmp_path / "in.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (96, 64))
    for i in range(12):
        writer.write(np.full((64, 96, 3), i * 20, np.uint8))  # a fill that tells the frame's number
    writer.release()
    backend = TwoAtOnce()
    seen = []
    stats = Pipeline(backend, [], on_frame=lambda f, d: seen.append(f.index)).run(Source(str(video), every=1))
    assert seen == list(range(12))
    assert backend.overlapped == 6 and len(backend.threads) == 2
    assert stats.runs_at_once == 2 and stats.frames == 12 and 0 <= stats.overhead < 1
