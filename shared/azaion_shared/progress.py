"""Progress on long work, as people watch it: a bar on a terminal (tqdm), and elsewhere (a log file,
`docker compose logs`, CI) one line every few seconds instead of a bar redrawn into a file.

- :func:`progress` wraps an iterable of known length: ``for scene in progress(range(n), "synth", "scene")``.
- :func:`working` is for one opaque call that takes a while (an export inside ultralytics): a line every
  few seconds saying it is still at it, and one line at the end with the time it took.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO, TypeVar

T = TypeVar("T")
EVERY_SECONDS = 5.0


def _is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def progress(
    items: Iterable[T],
    what: str,
    unit: str,
    total: int | None = None,
    stream: TextIO | None = None,
    every: float = EVERY_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[T]:
    """Yield ``items``, showing how far along they are on ``stream`` (standard error by default)."""
    stream = stream or sys.stderr
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    if _is_terminal(stream):
        from tqdm import tqdm

        yield from tqdm(items, desc=what, unit=unit, total=total, file=stream)
        return
    started = last = clock()
    done = 0
    for item in items:
        yield item
        done += 1
        now = clock()
        if now - last >= every:
            last = now
            of = f"/{total}" if total is not None else ""
            print(f"{what}: {done}{of} {unit}s ({done / (now - started):.1f}/s)", file=stream, flush=True)
    print(f"{what}: {done} {unit}s in {clock() - started:.1f} s", file=stream, flush=True)


@contextmanager
def working(what: str, stream: TextIO | None = None, every: float = EVERY_SECONDS) -> Iterator[None]:
    """Say every ``every`` seconds that ``what`` is still running, and how long it took at the end."""
    stream = stream or sys.stderr
    started = time.monotonic()
    finished = threading.Event()

    def tell() -> None:
        while not finished.wait(every):
            print(f"{what}: still working ({time.monotonic() - started:.0f} s)", file=stream, flush=True)

    teller = threading.Thread(target=tell, name=f"progress: {what}", daemon=True)
    teller.start()
    try:
        yield
    finally:
        finished.set()
        teller.join()
    print(f"{what}: done in {time.monotonic() - started:.1f} s", file=stream, flush=True)
