"""Sliced inference: small objects in large frames seen at native resolution.

Letterboxing a 4K frame into a 1280 px input shrinks every object three times; a car 20 px long
becomes 7 px, below what the model can see. Instead the frame is cut into overlapping windows
(:func:`windows`), each letterboxed to the model's input like a frame and batched through the
backend with the other views of the frame; the whole frame, letterboxed, can ride along for
objects larger than a tile. The boxes of all views are then merged (:func:`merge`): a box of one
tile that is mostly inside a box of the same class from another view (an object cut by a tile's
border, or seen both in a tile and in the whole frame) becomes one box, by supervision's greedy
non-maximum merging over intersection-over-smaller, as SAHI does.

``--tiles``: ``off`` (one view, the whole frame), ``RxC`` (rows x columns of tiles of equal size
that cover the frame with the given overlap), ``auto`` (tiles of exactly the model's input size,
as many as cover the frame with the overlap, when the whole frame would be seen at less than
:data:`AUTO_MIN_GAIN` of its size; otherwise the whole frame).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from inference.postprocess import Detections

#: auto tiles a frame that the model would see at less than this fraction of its size (shrunk more than
#: twice): 4K on a 1280 model (0.33) or 1080p on a 640 one (0.33) are tiled; 1080p on 1280 (0.67) is not.
AUTO_MIN_GAIN = 0.5
_GRID = re.compile(r"^([1-9][0-9]?)x([1-9][0-9]?)$")


@dataclass(frozen=True)
class View:
    """A window of the frame that becomes one model input: left, top, width, height in frame pixels."""

    x: int
    y: int
    w: int
    h: int


def parse(spec: str) -> tuple[int, int] | str:
    """``auto`` / ``off``, or (rows, columns) of ``RxC``; a ValueError says what is accepted."""
    if spec in ("auto", "off"):
        return spec
    match = _GRID.match(spec)
    if not match:
        raise ValueError(f"tiles {spec!r}: expected auto, off or ROWSxCOLUMNS such as 2x3")
    return int(match.group(1)), int(match.group(2))


def _starts(length: int, tile: int, count: int) -> list[int]:
    """``count`` window starts spread evenly so that windows of ``tile`` cover ``length``."""
    if count == 1 or length <= tile:
        return [0]
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _auto_count(length: int, tile: int, overlap: float) -> int:
    """How many windows of ``tile`` cover ``length`` with at least ``overlap`` (a fraction) shared."""
    if length <= tile:
        return 1
    step = max(1, tile - round(tile * overlap))
    return math.ceil((length - tile) / step) + 1


def windows(
    frame_hw: tuple[int, int], input_hw: tuple[int, int], spec: str, overlap: float = 0.2, full_frame: bool = True
) -> list[View]:
    """The views of a frame of ``frame_hw`` for a model of ``input_hw``, tiles first."""
    height, width = frame_hw
    whole = View(0, 0, width, height)
    grid = parse(spec)
    if grid == "off":
        return [whole]
    if grid == "auto":
        gain = min(input_hw[0] / height, input_hw[1] / width)
        if gain >= AUTO_MIN_GAIN:
            return [whole]
        tile_h, tile_w = min(input_hw[0], height), min(input_hw[1], width)
        rows, cols = _auto_count(height, tile_h, overlap), _auto_count(width, tile_w, overlap)
    else:
        rows, cols = grid
        # n tiles overlapping by a fraction f cover n*t - (n-1)*f*t = length
        tile_h = min(height, math.ceil(height / (rows - (rows - 1) * overlap)))
        tile_w = min(width, math.ceil(width / (cols - (cols - 1) * overlap)))
    views = [View(x, y, tile_w, tile_h) for y in _starts(height, tile_h, rows) for x in _starts(width, tile_w, cols)]
    views = list(dict.fromkeys(views))  # a frame narrower than the grid: no window twice
    if len(views) == 1:
        return [whole]
    return [*views, whole] if full_frame else views


def merge(parts: list[Detections], threshold: float, max_det: int = 300) -> Detections:
    """One frame's detections from the detections of its views: boxes of one class whose intersection
    covers ``threshold`` of the smaller one are merged into one (the union box, the best score's class)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return Detections.empty()
    if len(parts) == 1:
        return parts[0]
    import supervision as sv

    joined = Detections(
        np.concatenate([p.boxes for p in parts]),
        np.concatenate([p.scores for p in parts]),
        np.concatenate([p.classes for p in parts]),
    )
    merged = joined.to_supervision().with_nmm(
        threshold=threshold, class_agnostic=False, overlap_metric=sv.OverlapMetric.IOS
    )
    order = np.argsort(-merged.confidence, kind="stable")[:max_det]
    return Detections.from_supervision(merged[order])
