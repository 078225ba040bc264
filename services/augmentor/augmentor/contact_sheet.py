"""A contact sheet: one image and its seven variants with their boxes, in one PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from augmentor.settings import AugmentorOptions
from augmentor.transforms import apply_variant, build_variants, variant_seed
from azaion_shared.boxes import correct_boxes
from azaion_shared.labels import Box, read_labels

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


def draw_boxes(image: np.ndarray, boxes: list[Box], names: dict[int, str] | None = None) -> np.ndarray:
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


def tile(image: np.ndarray, title: str, boxes: list[Box], names=None, width: int = 480) -> np.ndarray:
    scale = width / image.shape[1]
    resized = draw_boxes(cv2.resize(image, (width, round(image.shape[0] * scale))), boxes, names)
    banner = np.full((28, width, 3), 32, np.uint8)
    cv2.putText(banner, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    return np.vstack([banner, resized])


def contact_sheet(
    image_path: Path,
    label_path: Path | None,
    options: AugmentorOptions,
    out: Path,
    names: dict[int, str] | None = None,
    columns: int = 4,
) -> Path:
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{image_path} does not decode as an image")
    boxes = correct_boxes(read_labels(label_path) if label_path and label_path.exists() else [], options.min_box_size)
    tiles = [tile(image, f"original ({len(boxes)} boxes)", boxes, names)]
    for variant in build_variants(options.transforms):
        seed = variant_seed(options.seed, image_path.stem, variant.index)
        try:
            img, out_boxes, classes = apply_variant(
                variant, image, [(b.cx, b.cy, b.w, b.h) for b in boxes], [b.class_id for b in boxes], seed
            )
            kept = correct_boxes((Box(c, *b) for c, b in zip(classes, out_boxes, strict=True)), options.min_box_size)
            tiles.append(tile(img, f"{variant.index}: {variant.name} ({len(kept)} boxes)", kept, names))
        except Exception as exc:
            blank = np.zeros_like(image)
            tiles.append(tile(blank, f"{variant.index}: {variant.name} failed: {exc}"[:60], []))
    height = max(t.shape[0] for t in tiles)
    tiles = [np.vstack([t, np.zeros((height - t.shape[0], t.shape[1], 3), np.uint8)]) for t in tiles]
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    width = max(r.shape[1] for r in rows)
    rows = [np.hstack([r, np.zeros((r.shape[0], width - r.shape[1], 3), np.uint8)]) for r in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), np.vstack(rows)):
        raise OSError(f"cannot write {out}")
    return out
