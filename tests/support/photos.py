"""Real photographs for tests and the demo: ultralytics' sample images, boxes drawn by hand.

``crops()`` cuts each photograph into overlapping crops with their boxes moved along; ``frames()``
makes video-like frames (pans and zooms over the photographs) and ``write_video()`` an mp4.
"""

from __future__ import annotations

from pathlib import Path

# class, then x1, y1, x2, y2 in 0..1 (0 person, 3 bus in the project's classes).
SAMPLE_BOXES = {
    "bus": [
        (3, 0.02, 0.21, 0.99, 0.68),
        (0, 0.06, 0.37, 0.30, 0.83),
        (0, 0.28, 0.37, 0.43, 0.80),
        (0, 0.86, 0.36, 1.0, 0.81),
        (0, 0.0, 0.51, 0.10, 0.80),
    ],
    "zidane": [(0, 0.12, 0.28, 0.60, 1.0), (0, 0.58, 0.05, 0.90, 1.0)],
}
CROPS = [
    (0.0, 0.0, 1.0, 1.0),
    (0.0, 0.2, 0.7, 0.95),
    (0.3, 0.1, 1.0, 0.9),
    (0.1, 0.3, 0.9, 1.0),
    (0.0, 0.0, 0.6, 0.7),
    (0.35, 0.35, 1.0, 1.0),
]


def assets() -> Path:
    import ultralytics

    return Path(ultralytics.__file__).parent / "assets"


def photo(stem: str):
    import cv2

    image = cv2.imread(str(assets() / f"{stem}.jpg"))
    if image is None:
        raise FileNotFoundError(f"ultralytics' sample image {stem}.jpg is missing from {assets()}")
    return image


def crops():
    """(name, BGR image, [(class, x1, y1, x2, y2) normalised]) for every crop of every photograph."""
    out = []
    for stem, boxes in SAMPLE_BOXES.items():
        image = photo(stem)
        height, width = image.shape[:2]
        for i, (cx1, cy1, cx2, cy2) in enumerate(CROPS):
            crop = image[round(cy1 * height) : round(cy2 * height), round(cx1 * width) : round(cx2 * width)]
            sx, sy = cx2 - cx1, cy2 - cy1
            moved = []
            for c, x1, y1, x2, y2 in boxes:
                nx1, ny1 = max((x1 - cx1) / sx, 0.0), max((y1 - cy1) / sy, 0.0)
                nx2, ny2 = min((x2 - cx1) / sx, 1.0), min((y2 - cy1) / sy, 1.0)
                if nx2 - nx1 > 0.02 and ny2 - ny1 > 0.02:
                    moved.append((c, nx1, ny1, nx2, ny2))
            out.append((f"{stem}-{i}", crop.copy(), moved))
    return out


def frames(count: int, size: tuple[int, int] = (640, 360)):
    """``count`` BGR frames of ``size`` (w, h): a slow pan and zoom over each photograph in turn."""
    import cv2

    width, height = size
    stems = list(SAMPLE_BOXES)
    out = []
    for i in range(count):
        image = photo(stems[(i * len(stems)) // count])
        ih, iw = image.shape[:2]
        t = (i % max(count // len(stems), 1)) / max(count // len(stems), 1)
        zoom = 1.0 - 0.3 * t
        cw, ch = min(iw, round(ih * zoom * width / height)), round(ih * zoom)
        cw = min(cw, iw)
        ch = min(ch, round(cw * height / width))
        x0 = round((iw - cw) * t)
        y0 = round((ih - ch) * (1 - t) / 2)
        out.append(cv2.resize(image[y0 : y0 + ch, x0 : x0 + cw], (width, height), interpolation=cv2.INTER_AREA))
    return out


def write_video(path: Path, images, fps: float = 10.0) -> Path:
    import cv2

    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    for image in images:
        writer.write(image)
    writer.release()
    return path


def write_dataset(root: Path, val_every: int = 4) -> Path:
    """A YOLO dataset (images/, labels/, data.yaml) of the crops, for training a tiny model."""
    import cv2

    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i, (name, image, boxes) in enumerate(crops()):
        split = "val" if i % val_every == 0 else "train"
        cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), image)
        lines = [
            f"{c} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}" for c, x1, y1, x2, y2 in boxes
        ]
        (root / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + "\n")
    names = {0: "person", 1: "car", 2: "truck", 3: "bus"}
    data = root / "data.yaml"
    data.write_text(
        f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n"
        + "".join(f"  {k}: {v}\n" for k, v in names.items())
    )
    return data
