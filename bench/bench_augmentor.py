"""Augmentor throughput at 1280x720: 1 worker vs 2, and where the time goes.

Each image becomes the original + 7 variants (16 files and a marker, all
durable). Per image we time the JPEG codec (decode once, encode 7 times) and the
transforms inside the worker; everything else (reading, writing, fsync,
labels, marker, scheduling) is overhead.
Goals (issue 4): overhead <= 10 % of the time; 2 workers >= 1.7 x one.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from common import Row

IMAGES = int(os.environ.get("BENCH_AUGMENTOR_IMAGES", "40"))


def make_sources(root, count: int) -> list[str]:
    import cv2
    import numpy as np
    import ultralytics

    from azaion_shared.labels import Box, format_labels

    assets = Path(ultralytics.__file__).parent / "assets"
    photos = [cv2.imread(str(p)) for p in sorted(assets.glob("*.jpg"))]
    root.data.ensure()
    rng = np.random.default_rng(0)
    names = []
    for i in range(count):
        photo = photos[i % len(photos)]
        frame = cv2.resize(photo, (1280, 720))
        frame = np.clip(frame.astype(np.int16) + rng.integers(-8, 8), 0, 255).astype(np.uint8)
        name = f"frame-{i:04d}"
        cv2.imwrite(str(root.data.image(name)), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        boxes = [Box(int(rng.integers(0, 10)), *rng.uniform(0.2, 0.8, 2), *rng.uniform(0.05, 0.2, 2)) for _ in range(8)]
        root.data.label(name).write_text(format_labels(boxes))
        names.append(name)
    return names


def run_pool(workers: int, count: int) -> dict:
    from augmentor.pool import make_pool, work
    from augmentor.settings import AugmentorOptions
    from azaion_shared.paths import DataRoot

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        root = DataRoot(Path(tmp)).ensure()
        names = make_sources(root, count)
        options = AugmentorOptions(workers=workers)
        pool = make_pool(root.root, options)
        list(pool.map(work, [f"warm-up-{i}" for i in range(workers)]))  # start the workers first
        started = time.perf_counter()
        results = list(pool.map(work, names))
        wall = time.perf_counter() - started
        pool.shutdown()
    assert all(r.status == "processed" and r.variants == 7 for r in results), [r.status for r in results]
    busy = sum(r.seconds for r in results)
    codec = sum(r.codec_seconds for r in results)
    transforms = sum(r.transform_seconds for r in results)
    return {
        "rate": count / wall,
        "wall": wall,
        "busy": busy,
        "codec": codec,
        "transforms": transforms,
        "overhead": 1 - (codec + transforms) / busy,
    }


def run() -> list[Row]:
    one = run_pool(1, IMAGES)
    two = run_pool(2, IMAGES)
    for label, r in (("1 worker", one), ("2 workers", two)):
        print(
            f"{label}: {r['rate']:.2f} images/s ({r['rate'] * 8:.1f} files out/s); per image "
            f"{r['busy'] / IMAGES * 1000:.0f} ms: JPEG codec {r['codec'] / r['busy']:.0%}, "
            f"transforms {r['transforms'] / r['busy']:.0%}, overhead {r['overhead']:.0%}"
        )
    speedup = two["rate"] / one["rate"]
    return [
        Row(
            "augmentor overhead (1 worker, 1280x720)",
            "<= 10 % of the time",
            f"{one['overhead']:.1%}",
            one["overhead"] <= 0.10,
        ),
        Row(
            "augmentor 2 workers vs 1",
            ">= 1.7 x",
            f"{speedup:.2f} x ({two['rate']:.2f} vs {one['rate']:.2f} images/s)",
            speedup >= 1.7,
        ),
    ]
