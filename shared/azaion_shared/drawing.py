"""Boxes drawn on images, tiles and grids of them: the annotated video, the console's thumbnails, the
contact sheet and the dataset visualiser all draw here, in one palette.

Needs OpenCV (cv2), which every service that draws already has; imported here only on use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from azaion_shared.labels import Box

if TYPE_CHECKING:
    import numpy as np

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


def gui_available() -> bool:
    """Whether this OpenCV build can open windows (opencv-python-headless cannot)."""
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return "NONE" not in line
    return False


def label_boxes(
    size: tuple[int, int], boxes: list[tuple[int, int, int, int]], labels: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Top-left corners for labels of ``labels`` sizes (width, height), one per box (x1, y1, x2, y2), in an
    image of ``size`` (width, height): above the box where there is room, else inside its top; always
    inside the image, and moved down past labels already placed rather than over them (supervision's
    "smart position", simply)."""
    width, height = size
    placed: list[tuple[int, int, int, int]] = []
    corners = []
    for (x1, y1, _x2, _y2), (w, h) in zip(boxes, labels, strict=True):
        x = min(max(x1, 0), max(width - w, 0))
        y = y1 - h if y1 - h >= 0 else max(y1, 0)
        for _ in range(len(placed) + 1):  # each move clears one label; a few moves at most
            hit = next((p for p in placed if x < p[2] and p[0] < x + w and y < p[3] and p[1] < y + h), None)
            if hit is None:
                break
            y = hit[3]
        y = min(max(y, 0), max(height - h, 0))
        placed.append((x, y, x + w, y + h))
        corners.append((x, y))
    return corners


def draw_labelled(image: np.ndarray, xyxy: np.ndarray, class_ids, labels: list[str]) -> np.ndarray:
    """Draw boxes (pixels, xyxy) with their labels on ``image`` in place, each in its class's colour, and
    return it: the one drawer of the project (annotated video, contact sheets, thumbnails, visualiser).
    Labels stay inside the image and do not cover each other (:func:`label_boxes`)."""
    import cv2

    thickness = max(round(sum(image.shape[:2]) / 2 * 0.003), 1)
    font_scale = thickness / 3
    boxes = [tuple(round(float(v)) for v in box) for box in xyxy]
    sizes, bases = [], []
    for text in labels:
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, max(thickness - 1, 1))
        sizes.append((tw + 2, th + base + 2))
        bases.append(base)
    corners = label_boxes((image.shape[1], image.shape[0]), boxes, sizes)
    for (x1, y1, x2, y2), cls in zip(boxes, class_ids, strict=True):
        cv2.rectangle(image, (x1, y1), (x2, y2), colour(cls), thickness, cv2.LINE_AA)
    for (x, y), (w, h), base, cls, text in zip(corners, sizes, bases, class_ids, labels, strict=True):
        col = colour(cls)
        cv2.rectangle(image, (x, y), (x + w, y + h), col, -1, cv2.LINE_AA)
        luminance = 0.299 * col[2] + 0.587 * col[1] + 0.114 * col[0]
        text_colour = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        cv2.putText(
            image,
            text,
            (x + 1, y + h - base - 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            text_colour,
            max(thickness - 1, 1),
            cv2.LINE_AA,
        )
    return image


def draw_counted(image: np.ndarray, points, text: str, closed: bool) -> np.ndarray:
    """A counting line (two points) or a zone (a closed polygon) in white with a dark edge, and its
    count as a label at its first point, kept inside the image; in place, and returned."""
    import cv2
    import numpy as np

    thickness = max(round(sum(image.shape[:2]) / 2 * 0.003), 1)
    polygon = np.round(np.asarray(points, np.float64)).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(image, [polygon], closed, (32, 32, 32), thickness + 2, cv2.LINE_AA)
    cv2.polylines(image, [polygon], closed, (255, 255, 255), thickness, cv2.LINE_AA)
    font_scale = thickness / 3 + 0.1
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, max(thickness - 1, 1))
    x0, y0 = (int(v) for v in polygon[0, 0])
    ((x, y),) = label_boxes((image.shape[1], image.shape[0]), [(x0, y0, x0, y0)], [(tw + 4, th + base + 4)])
    cv2.rectangle(image, (x, y), (x + tw + 4, y + th + base + 4), (255, 255, 255), -1)
    cv2.putText(
        image,
        text,
        (x + 2, y + th + 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        font_scale,
        (0, 0, 0),
        max(thickness - 1, 1),
        cv2.LINE_AA,
    )
    return image


def draw_boxes(image: np.ndarray, boxes: Iterable[Box], names: dict[int, str] | None = None) -> np.ndarray:
    """A copy of ``image`` with normalised YOLO boxes and their class names drawn."""
    import numpy as np

    boxes = list(boxes)
    h, w = image.shape[:2]
    xyxy = np.array([b.corners() for b in boxes], np.float64).reshape(-1, 4) * (w, h, w, h)
    classes = [b.class_id for b in boxes]
    return draw_labelled(image.copy(), xyxy, classes, [(names or {}).get(c, str(c)) for c in classes])


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
