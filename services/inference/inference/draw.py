"""Boxes with class names and colours drawn on a frame."""

from __future__ import annotations

import cv2
import numpy as np

from azaion_shared.model_info import ModelInfo
from inference.postprocess import Detections

# ultralytics' palette (BGR), so that a class looks the same here as in its plots.
_HEX = [
    "FF3838",
    "FF9D97",
    "FF701F",
    "FFB21D",
    "CFD231",
    "48F90A",
    "92CC17",
    "3DDB86",
    "1A9334",
    "00D4BB",
    "2C99A8",
    "00C2FF",
    "344593",
    "6473FF",
    "0018EC",
    "8438FF",
    "520085",
    "CB38FF",
    "FF95C8",
    "FF37C7",
]
PALETTE = [(int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16)) for h in _HEX]


def colour(class_id: int) -> tuple[int, int, int]:
    return PALETTE[int(class_id) % len(PALETTE)]


def draw(image: np.ndarray, detections: Detections, info: ModelInfo) -> np.ndarray:
    """Draw in place and return the image (a tracked box is labelled with its track id: ``#12 car 0.83``)."""
    thickness = max(round(sum(image.shape[:2]) / 2 * 0.003), 1)
    font_scale = thickness / 3
    for i, (box, score, cls) in enumerate(zip(detections.boxes, detections.scores, detections.classes, strict=True)):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        col = colour(cls)
        cv2.rectangle(image, (x1, y1), (x2, y2), col, thickness, cv2.LINE_AA)
        track = detections.track_id(i)
        text = f"{'' if track is None else f'#{track} '}{info.name(int(cls))} {score:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, max(thickness - 1, 1))
        top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1
        cv2.rectangle(image, (x1, top), (x1 + tw + 2, top + th + base + 2), col, -1, cv2.LINE_AA)
        luminance = 0.299 * col[2] + 0.587 * col[1] + 0.114 * col[0]
        text_colour = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        cv2.putText(
            image,
            text,
            (x1 + 1, top + th + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            text_colour,
            max(thickness - 1, 1),
            cv2.LINE_AA,
        )
    return image
