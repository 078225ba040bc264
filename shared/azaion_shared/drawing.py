"""Boxes drawn on images, tiles and grids of them: the contact sheet and the dataset visualiser.

Needs OpenCV (cv2), which every service that draws already has; imported here only on use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from azaion_shared.labels import Box

if TYPE_CHECKING:
    import numpy as np

PALETTE = [
    (56, 56, 255),
    (151, 157, 255),
    (31, 112, 255),
    (29, 178, 255),
    (49, 210, 207),
    (10, 249, 72),
    (23, 204, 146),
    (134, 219, 61),
    (52, 147, 26),
    (187, 212, 0),
]


def gui_available() -> bool:
    """Whether this OpenCV build can open windows (opencv-python-headless cannot)."""
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return "NONE" not in line
    return False


def draw_boxes(image: np.ndarray, boxes: Iterable[Box], names: dict[int, str] | None = None) -> np.ndarray:
    """A copy of ``image`` with normalised YOLO boxes and their class names drawn."""
    import cv2

    out = image.copy()
    h, w = out.shape[:2]
    thickness = max(2, round(min(h, w) / 300))
    for box in boxes:
        x1, y1, x2, y2 = box.corners()
        color = PALETTE[box.class_id % len(PALETTE)]
        p1, p2 = (round(x1 * w), round(y1 * h)), (round(x2 * w), round(y2 * h))
        cv2.rectangle(out, p1, p2, color, thickness)
        text = (names or {}).get(box.class_id, str(box.class_id))
        cv2.putText(
            out, text, (p1[0], max(12, p1[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.25 * thickness, color, thickness
        )
    return out


def tile(image: np.ndarray, title: str, boxes: Iterable[Box], names=None, width: int = 480) -> np.ndarray:
    """The image scaled to ``width`` with its boxes, under a title banner."""
    import cv2
    import numpy as np

    scale = width / image.shape[1]
    resized = draw_boxes(cv2.resize(image, (width, max(round(image.shape[0] * scale), 1))), boxes, names)
    banner = np.full((28, width, 3), 32, np.uint8)
    cv2.putText(banner, title[:64], (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    return np.vstack([banner, resized])


def grid(tiles: list[np.ndarray], columns: int = 4) -> np.ndarray:
    """Tiles in rows of ``columns``, padded with black to a rectangle."""
    import numpy as np

    rows = []
    for i in range(0, len(tiles), columns):
        row = tiles[i : i + columns]
        height = max(t.shape[0] for t in row)  # each row as tall as its tallest tile
        rows.append(np.hstack([np.vstack([t, np.zeros((height - t.shape[0], t.shape[1], 3), np.uint8)]) for t in row]))
    width = max(r.shape[1] for r in rows)
    rows = [np.hstack([r, np.zeros((r.shape[0], width - r.shape[1], 3), np.uint8)]) for r in rows]
    return np.vstack(rows)
