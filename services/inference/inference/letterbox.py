"""Letterbox a frame to the model's input size, exactly as ultralytics does (so detections agree).

The frame is scaled by the largest factor that fits, centred, padded with grey 114 and turned
from OpenCV's BGR to RGB. :func:`unletterbox` maps boxes back to frame pixels.
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


def letterbox(frame: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None) -> tuple[np.ndarray, Placement]:
    """(RGB uint8 image of ``size`` (h, w), placement). ``out`` may be a preallocated (h, w, 3) view."""
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
    return out, Placement(frame_h, frame_w, new_w / frame_w, new_h / frame_h, left, top)


def unletterbox(boxes: np.ndarray, placement: Placement) -> np.ndarray:
    """xyxy boxes in model-input pixels -> frame pixels, clipped to the frame (in place)."""
    boxes[:, [0, 2]] -= placement.pad_x
    boxes[:, [1, 3]] -= placement.pad_y
    boxes[:, [0, 2]] /= placement.gain_x
    boxes[:, [1, 3]] /= placement.gain_y
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, placement.frame_w)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, placement.frame_h)
    return boxes
