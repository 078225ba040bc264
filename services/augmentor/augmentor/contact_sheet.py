"""A contact sheet: one image and its seven variants with their boxes, in one PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from augmentor.errors import UnreadableImageError
from augmentor.settings import AugmentorOptions
from augmentor.transforms import apply_variant, build_variants, variant_seed
from azaion_shared.boxes import correct_boxes
from azaion_shared.drawing import grid, tile
from azaion_shared.labels import Box, read_labels


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
        raise UnreadableImageError(f"{image_path} does not decode as an image")
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
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), grid(tiles, columns)):
        raise OSError(f"cannot write {out}")
    return out
