"""Frames in, detections out, with reading, inference and output overlapping.

Three threads joined by bounded queues::

    reader:  decode every Nth frame -> letterbox into a batch buffer -> (frames, batch)
    model:   backend.infer(batch) -> raw output
    outputs (caller's thread): decode + NMS -> draw -> JSONL / mp4 / window / live view

The model thread is the one that must never wait: the reader fills the next batch while the model
runs this one, and the outputs deal with the previous one. A full queue slows the reader down
(live sources then drop frames in the capture buffer, not in memory here).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from inference.backends.base import Backend
from inference.draw import draw
from inference.errors import Stopped
from inference.letterbox import Placement, letterbox
from inference.postprocess import Detections, postprocess
from inference.sinks import Sink
from inference.source import Frame

log = logging.getLogger(__name__)

_END = object()


@dataclass
class Batch:
    frames: list[Frame]
    placements: list[Placement]
    images: np.ndarray  # (n, h, w, 3) RGB uint8
    output: np.ndarray | None = None


@dataclass
class Stats:
    frames: int = 0
    batches: int = 0
    detections: int = 0
    wall_seconds: float = 0.0
    model_seconds: float = 0.0
    per_class: dict[str, int] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def overhead(self) -> float:
        """1 - time inside the model / wall time: what the pipeline adds around the model."""
        return 1 - self.model_seconds / self.wall_seconds if self.wall_seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "frames": self.frames,
            "batches": self.batches,
            "detections": self.detections,
            "per_class": self.per_class,
            "wall_seconds": round(self.wall_seconds, 3),
            "model_seconds": round(self.model_seconds, 3),
            "fps": round(self.fps, 2),
            "overhead": round(self.overhead, 4),
        }


class Pipeline:
    def __init__(
        self,
        backend: Backend,
        sinks: list[Sink],
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        queue_size: int = 4,
        on_frame: Callable[[Frame, Detections], None] | None = None,
    ):
        self.backend, self.sinks = backend, sinks
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.queue_size = queue_size
        self.on_frame = on_frame
        self._stop = threading.Event()
        self._errors: list[BaseException] = []

    def stop(self) -> None:
        self._stop.set()

    # --- the three stages -----------------------------------------------------------------------
    def _put(self, q: queue.Queue, item) -> None:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise Stopped

    def _get(self, q: queue.Queue):
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    raise Stopped from None

    def _reader(self, frames: Iterable[Frame], out: queue.Queue) -> None:
        size, batch = self.backend.input_size, self.backend.batch
        try:
            pending: list[Frame] = []
            placements: list[Placement] = []
            buffer = np.empty((batch, *size, 3), np.uint8)
            for frame in frames:
                if self._stop.is_set():
                    raise Stopped
                _, placement = letterbox(frame.image, size, out=buffer[len(pending)])
                pending.append(frame)
                placements.append(placement)
                if len(pending) == batch:
                    self._put(out, Batch(pending, placements, buffer))
                    pending, placements = [], []
                    buffer = np.empty((batch, *size, 3), np.uint8)
            if pending:  # the last, short batch: the backend pads it if its model needs a full one
                self._put(out, Batch(pending, placements, buffer[: len(pending)]))
            self._put(out, _END)
        except Stopped:
            pass
        except BaseException as exc:
            self._fail(exc)

    def _model(self, inbox: queue.Queue, out: queue.Queue) -> None:
        try:
            while True:
                item = self._get(inbox)
                if item is _END:
                    self._put(out, _END)
                    return
                item.output = self.backend.infer(item.images)
                self._put(out, item)
        except Stopped:
            pass
        except BaseException as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self._errors.append(exc)
        self._stop.set()

    def _emit(self, batch: Batch, stats: Stats) -> None:
        drawing = any(s.needs_drawing for s in self.sinks)
        info = self.backend.info
        for frame, placement, raw in zip(batch.frames, batch.placements, batch.output, strict=True):
            detections = postprocess(raw, placement, self.conf, self.iou, self.max_det)
            drawn = draw(frame.image.copy(), detections, info) if drawing else None
            for sink in self.sinks:
                sink.write(frame, detections, drawn)
            if self.on_frame:
                self.on_frame(frame, detections)
            stats.frames += 1
            stats.detections += len(detections)
            for cls in detections.classes:
                name = info.name(int(cls))
                stats.per_class[name] = stats.per_class.get(name, 0) + 1
            if any(getattr(s, "stopped", False) for s in self.sinks):
                self._stop.set()
        stats.batches += 1

    def run(self, frames: Iterable[Frame], progress: Callable[[int], None] | None = None) -> Stats:
        """Process every frame; returns the figures. Raises the first error of any stage."""
        stats = Stats()
        model_before = self.backend.model_seconds
        batches: queue.Queue = queue.Queue(self.queue_size)
        results: queue.Queue = queue.Queue(self.queue_size)
        threads = [
            threading.Thread(target=self._reader, args=(frames, batches), name="inference-reader", daemon=True),
            threading.Thread(target=self._model, args=(batches, results), name="inference-model", daemon=True),
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        try:
            while True:
                item = self._get(results)
                if item is _END:
                    break
                self._emit(item, stats)
                if progress:
                    progress(len(item.frames))
        except Stopped:
            pass
        except BaseException:
            self._stop.set()
            raise
        finally:
            self._stop.set()  # the workers leave now if they have not yet
            for thread in threads:
                thread.join(timeout=30)
            stats.wall_seconds = time.perf_counter() - started
            stats.model_seconds = self.backend.model_seconds - model_before
        if self._errors:
            raise self._errors[0]
        return stats
