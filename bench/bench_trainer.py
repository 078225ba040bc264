"""Dataset formation for 20,000 images (2,500 originals x 8) against copying them with `cp`.

The images are 1280x720 JPEGs as the augmentor writes them. Formation validates every pair,
splits by original and hard-links into datasets/{run}/; the baseline is what a copy-based tool
does: `cp -r` of the same images and labels. Also measured at 5,000 and 10,000 images to show
how the time grows. Goals (issue 6): >= 10 x faster than cp; time linear in the number of images.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import Row

SIZES = [int(s) for s in os.environ.get("BENCH_TRAINER_IMAGES", "5000,10000,20000").split(",")]


def build(root, originals: int) -> None:
    import cv2
    import numpy as np
    import ultralytics

    from azaion_shared.labels import Box, format_labels
    from azaion_shared.paths import OUTPUT_SCHEME, CompletionMarker, variant_stem

    assets = Path(ultralytics.__file__).parent / "assets"
    photos = [cv2.resize(cv2.imread(str(p)), (1280, 720)) for p in sorted(assets.glob("*.jpg"))]
    root.processed.ensure()
    rng = np.random.default_rng(0)
    sources = []
    for i in range(16):  # distinct JPEGs; every output name gets a file of its own (a link to one of them)
        frame = np.clip(photos[i % len(photos)].astype(np.int16) + rng.integers(-10, 10), 0, 255).astype(np.uint8)
        path = root.root / f"source-{i}.jpg"
        cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        sources.append(path)
    label = format_labels([Box(int(c), 0.5, 0.5, 0.1, 0.1) for c in rng.integers(0, 16, 6)])
    for o in range(originals):
        name = f"frame-{o:06d}"
        for k, stem in enumerate([name] + [variant_stem(name, v) for v in range(1, 8)]):
            src = sources[(o + k) % len(sources)]
            shutil.copyfile(src, root.processed.image(stem)) if o < 0 else os.link(src, root.processed.image(stem))
            root.processed.label(stem).write_text(label)
        marker = CompletionMarker(name=name, variants=tuple(range(1, 8)), scheme=OUTPUT_SCHEME)
        root.processed.marker_path(name).write_text(marker.to_json())


def measure(images: int) -> tuple[float, float]:
    from azaion_shared.paths import DataRoot
    from trainer.classes import load_classes
    from trainer.dataset import form_dataset

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        root = DataRoot(Path(tmp) / "root").ensure()
        build(root, images // 8)
        subprocess.run(["sync"], check=True)
        started = time.perf_counter()
        result = form_dataset(root, "bench", load_classes())
        formed = time.perf_counter() - started
        assert sum(result.counts.values()) > 0 and not result.corrupted
        copy_dir = Path(tmp) / "copy"
        copy_dir.mkdir()
        started = time.perf_counter()
        subprocess.run(["cp", "-r", str(root.processed.images), str(root.processed.labels), str(copy_dir)], check=True)
        copied = time.perf_counter() - started
    return formed, copied


def run() -> list[Row]:
    rows = []
    results = {}
    for images in SIZES:
        formed, copied = measure(images)
        results[images] = formed
        print(
            f"{images} images: formation {formed:.2f} s ({formed / images * 1e6:.0f} us/image), "
            f"cp -r {copied:.2f} s: {copied / formed:.1f} x faster"
        )
        if images == max(SIZES):
            rows.append(
                Row(
                    f"dataset formation, {images} images, vs cp -r",
                    ">= 10 x faster",
                    f"{copied / formed:.1f} x ({formed:.2f} s vs {copied:.2f} s)",
                    copied / formed >= 10,
                )
            )
    small, large = min(SIZES), max(SIZES)
    growth = (results[large] / results[small]) / (large / small)
    rows.append(
        Row(
            f"dataset formation time growth {small} -> {large} images",
            "at most linear (per-image time <= 1.25 x; below 1 the fixed costs dominate the small run)",
            f"{growth:.2f} x per image",
            growth <= 1.25,
        )
    )
    return rows
