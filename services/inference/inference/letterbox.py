"""Letterbox a frame to the model's input size, exactly as ultralytics does (so detections agree).

The frame is scaled by the largest factor that fits, centred, padded with grey 114 and turned
from OpenCV's BGR to RGB. :func:`unletterbox` maps boxes back to frame pixels. A model with a dynamic
input size gets what ultralytics gives it (``rect``): the scaled frame padded only up to the next
multiple of the stride (:func:`rect_size`), not to the full square. A tile of a larger frame is
letterboxed like a frame; its placement remembers where the tile sits in the frame (``x0``, ``y0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Placement:
    """Where the frame sits in the model input: the frame size and the per-axis gain and padding."""

    frame_h: int
    frame_w: int
    gain_x: float
    gain_y: float
    pad_x: int
    pad_y: int
    x0: int = 0  # where the letterboxed image (a tile) starts in the frame
    y0: int = 0


def rect_size(frame_hw: tuple[int, int], size: tuple[int, int], stride: int = 32) -> tuple[int, int]:
    """(h, w) a dynamic-size model gets for a frame, as ultralytics' ``LetterBox(auto=True)``: the frame
    scaled to fit ``size``, each side padded up to a multiple of ``stride``."""
    frame_h, frame_w = frame_hw
    r = min(size[0] / frame_h, size[1] / frame_w)
    new_w, new_h = max(round(frame_w * r), 1), max(round(frame_h * r), 1)
    return new_h + (size[0] - new_h) % stride, new_w + (size[1] - new_w) % stride


def letterbox(
    frame: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None, x0: int = 0, y0: int = 0
) -> tuple[np.ndarray, Placement]:
    """(RGB uint8 image of ``size`` (h, w), placement). ``out`` may be a preallocated (h, w, 3) view;
    ``x0``, ``y0``: where ``frame`` (a tile) sits in the whole frame."""
    height, width = size
    frame_h, frame_w = frame.shape[:2]
    r = min(height / frame_h, width / frame_w)
    new_w, new_h = max(round(frame_w * r), 1), max(round(frame_h * r), 1)
    dw, dh = (width - new_w) / 2, (height - new_h) / 2
    top, bottom, left, right = round(dh - 0.1), round(dh + 0.1), round(dw - 0.1), round(dw + 0.1)
    resized = frame if (new_w, new_h) == (frame_w, frame_h) else cv2.resize(frame, (new_w, new_h))
    padded = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    if out is None:
        out = np.empty((height, width, 3), np.uint8)
    cv2.cvtColor(padded, cv2.COLOR_BGR2RGB, dst=out)
    return out, Placement(frame_h, frame_w, new_w / frame_w, new_h / frame_h, left, top, x0, y0)


def unletterbox(boxes: np.ndarray, placement: Placement) -> np.ndarray:
    """xyxy boxes in model-input pixels -> frame pixels, clipped to the frame or tile (in place)."""
    boxes[:, [0, 2]] -= placement.pad_x
    boxes[:, [1, 3]] -= placement.pad_y
    boxes[:, [0, 2]] /= placement.gain_x
    boxes[:, [1, 3]] /= placement.gain_y
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, placement.frame_w)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, placement.frame_h)
    if placement.x0 or placement.y0:
        boxes[:, [0, 2]] += placement.x0
        boxes[:, [1, 3]] += placement.y0
    return boxes
