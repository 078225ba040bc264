"""The process pool of one replica: each worker builds its own Processor, OpenCV on one thread."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

_processor = None


def _init(root: str, options_json: str) -> None:
    global _processor
    import cv2

    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would fight them
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from augmentor.processor import Processor
    from augmentor.settings import AugmentorOptions
    from azaion_shared.paths import DataRoot

    _processor = Processor(DataRoot(root), AugmentorOptions.model_validate_json(options_json)).ensure()


def work(name: str):
    """Runs in a worker process."""
    return _processor.process(name)


def make_pool(root, options) -> ProcessPoolExecutor:
    import multiprocessing

    return ProcessPoolExecutor(
        max_workers=options.workers,
        mp_context=multiprocessing.get_context("spawn"),  # no fork of an event loop or open connections
        initializer=_init,
        initargs=(str(root), options.model_dump_json()),
    )
