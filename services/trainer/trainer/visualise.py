"""The dataset visualiser: a grid of images with their boxes and class names, to check labels by eye.

Works on any folder of the data root that holds ``images/`` and ``labels/`` (data/, data-seed/,
data-processed/, data_deleted/) and on a formed dataset split (datasets/{run}/train, valid, test).
"""

from __future__ import annotations

import logging
from pathlib import Path

from azaion_shared.errors import LabelError
from azaion_shared.labels import read_labels
from trainer.errors import DatasetError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def pairs(folder: Path) -> list[tuple[Path, Path | None]]:
    """(image, label or None) of a pair folder (images/ + labels/) or a plain folder of images."""
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    images_dir = folder / "images" if (folder / "images").is_dir() else folder
    labels_dir = folder / "labels" if (folder / "labels").is_dir() else images_dir
    parts = images_dir.parts
    if labels_dir == images_dir and "images" in parts:  # ultralytics' layout: images/train <-> labels/train
        i = len(parts) - 1 - parts[::-1].index("images")
        labels_dir = Path(*parts[:i], "labels", *parts[i + 1 :])
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(f"no images in {images_dir}")
    return [(p, labels_dir / f"{p.stem}.txt" if (labels_dir / f"{p.stem}.txt").exists() else None) for p in images]


def render(
    folder: Path,
    out: Path,
    names: dict[int, str],
    count: int = 16,
    columns: int = 4,
    width: int = 320,
    show: bool = False,
) -> tuple[Path, int]:
    """Draw up to ``count`` images of ``folder`` (evenly spread over it) into ``out``; (out, images drawn)."""
    import cv2
    import numpy as np

    from azaion_shared.drawing import grid, gui_available, tile

    found = pairs(folder)
    step = max(len(found) / count, 1)
    chosen = [found[int(i * step)] for i in range(min(count, len(found)))]
    tiles = []
    for image_path, label_path in chosen:
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if image is None:
            log.warning("%s does not decode; shown as a blank tile", image_path)
            tiles.append(tile(np.zeros((64, 64, 3), np.uint8), f"{image_path.name}: unreadable", [], names, width))
            continue
        try:
            boxes = read_labels(label_path) if label_path else []
            title = f"{image_path.stem} ({len(boxes)} boxes)"
        except LabelError as exc:
            boxes, title = [], f"{image_path.stem}: bad label ({exc})"
        tiles.append(tile(image, title, boxes, names, width))
    sheet = grid(tiles, columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), sheet):
        raise DatasetError(f"cannot write {out}")
    if show:
        if not gui_available():
            raise DatasetError(f"this OpenCV build has no GUI (headless): open {out} in an image viewer instead")
        cv2.imshow(str(folder), sheet)
        cv2.waitKey(0)
        cv2.destroyAllWindows()
    return out, len(tiles)
