"""Our array ByteTrack against Roboflow's ``trackers`` ByteTrack, step by step on the same detections:
the same detections get ids, the same ones none, and one id of theirs is always one id of ours."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from inference.bytetrack import ByteTrack, iou_matrix


def scenes(seed: int, steps: int = 120):
    """Boxes moving at their own speeds, some crossing, noisy, sometimes missed, weak or new."""
    rng = np.random.default_rng(seed)
    count = 14
    start = rng.uniform(0, 600, (count, 2))
    speed = rng.uniform(-6, 6, (count, 2))
    size = rng.uniform(12, 60, (count, 2))
    born = rng.integers(0, steps // 2, count)
    for step in range(steps):
        here = [i for i in range(count) if born[i] <= step and rng.random() > 0.12]
        centre = start[here] + speed[here] * step + rng.normal(0, 1.5, (len(here), 2))
        boxes = np.hstack([centre - size[here] / 2, centre + size[here] / 2])
        scores = rng.choice([0.9, 0.75, 0.55, 0.3], len(here), p=[0.5, 0.2, 0.2, 0.1]) + rng.uniform(0, 0.05, len(here))
        order = rng.permutation(len(here))
        yield boxes[order], scores[order]


def theirs(high: float, min_frames: int, buffer: int):
    from trackers import ByteTrackTracker

    tracker = ByteTrackTracker(
        lost_track_buffer=buffer,
        frame_rate=30.0,
        track_activation_threshold=high,
        high_conf_det_threshold=high,
        minimum_consecutive_frames=min_frames,
    )

    def update(boxes, scores):
        count = len(boxes)
        found = tracker.update(
            sv.Detections(
                xyxy=boxes.astype(np.float32),
                confidence=scores.astype(np.float32),
                class_id=np.zeros(count, int),
                data={"index": np.arange(count)},
            )
        )
        ids = np.full(count, -1)
        for index, tracked in zip(found.data.get("index", ()), found.tracker_id, strict=True):
            ids[int(index)] = int(tracked)
        return ids

    return update


@pytest.mark.parametrize(("seed", "high", "min_frames", "buffer"), [(1, 0.6, 3, 30), (2, 0.5, 1, 5), (3, 0.7, 2, 12)])
def test_same_tracks_as_the_trackers_library(seed, high, min_frames, buffer):
    ours = ByteTrack(buffer, high, high, min_frames)
    library = theirs(high, min_frames, buffer)
    pairs: dict[int, int] = {}
    tracked = 0
    for boxes, scores in scenes(seed):
        mine, reference = ours.update(boxes, scores), library(boxes, scores)
        assert ((mine < 0) == (reference < 0)).all()
        for a, b in zip(mine[mine >= 0], reference[reference >= 0], strict=True):
            assert pairs.setdefault(int(a), int(b)) == int(b)  # one of theirs is always one of ours
        tracked += int((mine >= 0).sum())
    assert len(set(pairs.values())) == len(pairs) and tracked > 500  # and the scenes did track things
    assert sorted(pairs) == list(range(1, len(pairs) + 1))  # ours are numbered 1, 2, 3 ... per tracker


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10], [100, 100, 110, 110]], float)
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [50, 50, 60, 60]], float)
    assert np.allclose(iou_matrix(a, b), [[50 / 150, 1, 0], [0, 0, 0]])
