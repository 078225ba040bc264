"""Decoding YOLO11 output and NMS, checked against torchvision's NMS and hand-made edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from inference.letterbox import Placement, letterbox, unletterbox
from inference.postprocess import decode, iou_one_to_many, nms, postprocess


def raw(boxes_xywh, scores_per_class):
    """A (4 + nc, anchors) output from per-anchor xywh boxes and class scores."""
    return np.concatenate([np.asarray(boxes_xywh, np.float32).T, np.asarray(scores_per_class, np.float32).T])


def test_nms_empty_and_single():
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []
    assert nms(np.array([[0, 0, 10, 10]], np.float32), np.array([0.9], np.float32), 0.5).tolist() == [0]


def test_nms_suppresses_only_above_the_threshold():
    # IoU of these two is exactly 0.5 (overlap 50 of union 100): kept at iou=0.5, dropped at 0.49.
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert iou_one_to_many(boxes[0], boxes[1:2])[0] == pytest.approx(0.5)
    assert nms(boxes, scores, 0.5).tolist() == [0, 1, 2]
    assert nms(boxes, scores, 0.49).tolist() == [0, 2]


def test_identical_boxes_keep_the_best_and_zero_area_boxes_do_not_crash():
    boxes = np.array([[5, 5, 15, 15]] * 3 + [[7, 7, 7, 7]], np.float32)
    scores = np.array([0.3, 0.9, 0.5, 0.95], np.float32)
    assert nms(boxes, scores, 0.7).tolist() == [3, 1]


def test_nms_matches_torchvision_on_random_boxes():
    torch = pytest.importorskip("torch")  # installed in the development environment (ultralytics)
    from torchvision.ops import nms as tv_nms

    rng = np.random.default_rng(7)
    for trial in range(50):
        n = int(rng.integers(1, 300))
        xy = rng.uniform(0, 200, (n, 2))
        wh = rng.uniform(1, 80, (n, 2))
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        scores = rng.permutation(n).astype(np.float32) / n + 0.001  # distinct scores
        iou = float(rng.uniform(0.2, 0.8))
        expected = tv_nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy().tolist()
        assert nms(boxes, scores, iou).tolist() == expected, f"trial {trial}"


def test_decode_is_class_aware_and_thresholds_strictly():
    # Two identical boxes of different classes both survive; the same two as one class do not.
    out = raw([[50, 50, 20, 20], [50, 50, 20, 20], [10, 10, 4, 4]], [[0.9, 0.1], [0.1, 0.8], [0.25, 0.0]])
    boxes, scores, classes = decode(out, conf=0.25, iou=0.7)
    assert classes.tolist() == [0, 1] and scores.tolist() == pytest.approx([0.9, 0.8])
    assert boxes[0].tolist() == [40, 40, 60, 60]
    _, _, agnostic = decode(out, conf=0.25, iou=0.7, agnostic=True)
    assert agnostic.tolist() == [0]  # the 0.25 anchor is not above conf=0.25


def test_decode_keeps_at_most_max_det_highest_first():
    boxes = [[i * 30 + 10, 10, 10, 10] for i in range(20)]
    scores = [[0.3 + i * 0.01] for i in range(20)]
    _, kept, _ = decode(raw(boxes, scores), conf=0.25, iou=0.5, max_det=5)
    assert kept.tolist() == pytest.approx([0.49, 0.48, 0.47, 0.46, 0.45])


def test_decode_with_nothing_above_threshold():
    boxes, scores, classes = decode(raw([[5, 5, 2, 2]], [[0.1, 0.2]]), conf=0.25, iou=0.7)
    assert boxes.shape == (0, 4) and len(scores) == 0 and len(classes) == 0


@pytest.mark.parametrize("shape", [(1080, 810), (360, 640), (300, 1000), (1, 3000), (128, 128)])
@pytest.mark.parametrize("size", [(128, 128), (96, 160)])
def test_letterbox_is_ultralytics_letterbox(shape, size):
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils.ops import scale_boxes

    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (*shape, 3), dtype=np.uint8)
    ours, placement = letterbox(frame, size)
    theirs = LetterBox(size, auto=False)(image=frame)[..., ::-1]
    assert np.array_equal(ours, theirs)
    box = np.array([[10.5, 20.25, 60.0, 90.0]], np.float32)
    expected = scale_boxes(size, box.copy(), shape)
    assert unletterbox(box.copy(), placement) == pytest.approx(expected, abs=1e-4)


def test_postprocess_maps_boxes_to_frame_pixels_and_clips():
    placement = Placement(frame_h=200, frame_w=400, gain_x=0.25, gain_y=0.25, pad_x=0, pad_y=25)
    # In a 100x100 input: a box 10..30 x 35..45 -> frame 40..120 x 40..80; one over the edge is clipped.
    out = raw([[20, 40, 20, 10], [95, 50, 20, 10]], [[0.9], [0.8]])
    detections = postprocess(out, placement, conf=0.25, iou=0.7)
    assert detections.boxes.tolist() == [[40, 40, 120, 80], [340, 80, 400, 120]]
