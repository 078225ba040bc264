"""Box correction: clip boxes to the image, drop the ones that become degenerate.

Annotators draw boxes that spill over the edge, and augmentations push boxes
partly out of the frame. Training on them teaches the model wrong extents, so
every box is clipped to the image and dropped when what is left is too small.
"""

from __future__ import annotations

from collections.abc import Iterable

from azaion_shared.labels import Box

#: Default smallest width/height kept, as a fraction of the image side.
DEFAULT_MIN_SIZE = 0.002
#: Slack for float rounding, so that correcting a corrected box changes nothing.
_EPS = 1e-9


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def correct_box(box: Box, min_size: float = DEFAULT_MIN_SIZE) -> Box | None:
    """The box clipped to 0..1, or None when its clipped width or height is below ``min_size``."""
    x1, y1, x2, y2 = (_clamp(v) for v in box.corners())
    if x2 - x1 < min_size - _EPS or y2 - y1 < min_size - _EPS or x2 - x1 <= 0.0 or y2 - y1 <= 0.0:
        return None
    corrected = Box.from_corners(box.class_id, x1, y1, x2, y2)
    # Keep the centre/size form exactly inside 0..1 despite rounding.
    return Box(corrected.class_id, _clamp(corrected.cx), _clamp(corrected.cy), _clamp(corrected.w), _clamp(corrected.h))


def correct_boxes(boxes: Iterable[Box], min_size: float = DEFAULT_MIN_SIZE) -> list[Box]:
    """Every box clipped to the image; degenerate ones dropped (order kept)."""
    if not 0.0 <= min_size < 1.0:
        raise ValueError(f"min_size must be in [0, 1), got {min_size}")
    result = []
    for box in boxes:
        corrected = correct_box(box, min_size)
        if corrected is not None:
            result.append(corrected)
    return result


def min_size_for_pixels(pixels: float, width: int, height: int) -> float:
    """The normalised minimum size that keeps boxes at least ``pixels`` wide and high on a width x height image."""
    return pixels / min(width, height)
