import pytest
from hypothesis import given
from hypothesis import strategies as st

from azaion_shared.boxes import correct_box, correct_boxes, min_size_for_pixels
from azaion_shared.labels import Box

EPS = 1e-9
coord = st.floats(min_value=-2.0, max_value=3.0, allow_nan=False)
size = st.floats(min_value=0.0, max_value=3.0, allow_nan=False)
any_box = st.builds(Box, st.integers(0, 79), coord, coord, size, size)
min_sizes = st.floats(min_value=0.0, max_value=0.2)


def test_inside_box_unchanged():
    box = Box(1, 0.5, 0.5, 0.2, 0.2)
    corrected = correct_box(box)
    assert corrected.class_id == 1
    assert (corrected.cx, corrected.cy, corrected.w, corrected.h) == pytest.approx((0.5, 0.5, 0.2, 0.2))


def test_clip_at_edge():
    corrected = correct_box(Box(2, 0.95, 0.5, 0.2, 0.2))  # x from 0.85 to 1.05
    assert corrected.corners() == pytest.approx((0.85, 0.4, 1.0, 0.6))


def test_degenerate_dropped():
    assert correct_box(Box(0, 1.2, 0.5, 0.2, 0.2)) is None  # fully outside
    assert correct_box(Box(0, 0.5, 0.5, 0.001, 0.3), min_size=0.002) is None
    assert correct_boxes([Box(0, 0.5, 0.5, 0.1, 0.1), Box(0, -1, -1, 0.1, 0.1)]) == [
        correct_box(Box(0, 0.5, 0.5, 0.1, 0.1))
    ]


def test_min_size_validation_and_pixels():
    with pytest.raises(ValueError, match="min_size"):
        correct_boxes([], min_size=1.5)
    assert min_size_for_pixels(4, 1280, 720) == pytest.approx(4 / 720)


@given(st.lists(any_box, max_size=10), min_sizes)
def test_corrected_boxes_inside_and_big_enough(boxes, min_size):
    for box in correct_boxes(boxes, min_size):
        x1, y1, x2, y2 = box.corners()
        assert -EPS <= x1 <= x2 <= 1 + EPS
        assert -EPS <= y1 <= y2 <= 1 + EPS
        assert box.w >= min_size - 1e-9 and box.h >= min_size - 1e-9
        assert 0 <= box.cx <= 1 and 0 <= box.cy <= 1


@given(st.lists(any_box, max_size=10), min_sizes)
def test_correction_is_idempotent(boxes, min_size):
    once = correct_boxes(boxes, min_size)
    twice = correct_boxes(once, min_size)
    assert len(twice) == len(once)
    for a, b in zip(once, twice, strict=True):
        assert a.class_id == b.class_id
        assert (a.cx, a.cy, a.w, a.h) == pytest.approx((b.cx, b.cy, b.w, b.h), abs=1e-12)


@given(any_box)
def test_clipped_box_is_the_intersection(box):
    corrected = correct_box(box, min_size=0.0)
    x1, y1, x2, y2 = box.corners()
    ix = min(x2, 1) - max(x1, 0)
    iy = min(y2, 1) - max(y1, 0)
    if corrected is None:
        assert ix <= 1e-9 or iy <= 1e-9
    else:
        assert corrected.w == pytest.approx(ix, abs=1e-9)
        assert corrected.h == pytest.approx(iy, abs=1e-9)
