"""Frames in, detections out, with reading, inference and output overlapping.

Three threads joined by bounded queues::

    reader:  decode every Nth frame -> its views (the whole frame, or tiles: inference.tiles), each
             letterboxed into a batch buffer -> batch
    model:   backend.infer(batch) -> raw output; as many threads as the backend runs batches at once
             (``Backend.runs_at_once``: two for ONNX Runtime on a CPU of two cores or more)
    outputs (caller's thread): batches back in order -> decode + NMS per view -> merge a frame's
             views -> track -> draw -> JSONL / mp4 / window / live view (and track events)

A batch holds views, not frames: a tiled 4K frame fills several batches, and one batch may end one
frame's tiles and begin the next one's. The outputs stage gathers a frame's views in order and emits
it when its last view is through.

The model thread is the one that must never wait: the reader fills the next batch while the model
runs this one, and the outputs deal with the previous one. A full queue slows the reader down
(live sources then drop frames in the capture buffer, not in memory here).

A new model (a fleet update) is handed over with :meth:`Pipeline.swap`, already loaded and warmed up.
The reader adopts it between two batches, so every frame is letterboxed for, run by and reported with
one model; the outputs close the old one once its last batch is through (they see batches in order).
No frame is skipped and the source and the outputs never stop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from azaion_shared.drawing import draw_labelled
from inference.backends.base import Backend
from inference.errors import Stopped
from inference.letterbox import Placement, letterbox, rect_size
from inference.postprocess import Detections, postprocess
from inference.sinks import Running, Sink
from inference.source import Frame
from inference.tiles import View, merge, windows
from inference.tracking import Tracking

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _End:
    """The reader's last word, one to each model thread: how many batches it sent."""

    batches: int


@dataclass
class FrameWork:
    """A frame on its way: how many views it has, the detections of those done so far, its model."""

    frame: Frame
    views: int
    model: Running
    parts: list[Detections] = field(default_factory=list)


@dataclass
class Batch:
    views: list[tuple[FrameWork, Placement]]
    images: np.ndarray  # (n, h, w, 3) RGB uint8
    backend: Backend
    model: Running
    output: np.ndarray | None = None
    number: int = 0  # its place in the reader's order (the model threads may finish out of it)
    seconds: float = 0.0  # inside the runtime


@dataclass
class Stats:
    frames: int = 0
    batches: int = 0
    detections: int = 0
    views: int = 0  # model inputs run: frames, or tiles and whole frames
    wall_seconds: float = 0.0
    model_seconds: float = 0.0
    track_seconds: float = 0.0
    per_class: dict[str, int] = field(default_factory=dict)
    versions: list[int | None] = field(default_factory=list)  # the model versions that ran, in order
    runs_at_once: int = 1  # model threads: batches run at the same time

    @property
    def fps(self) -> float:
        return self.frames / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def overhead(self) -> float:
        """1 - time inside the model / (wall time x batches run at once): what the pipeline adds around
        the model."""
        return 1 - self.model_seconds / (self.wall_seconds * self.runs_at_once) if self.wall_seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "frames": self.frames,
            "batches": self.batches,
            "views": self.views,
            "detections": self.detections,
            "per_class": self.per_class,
            "wall_seconds": round(self.wall_seconds, 3),
            "model_seconds": round(self.model_seconds, 3),
            "track_seconds": round(self.track_seconds, 3),
            "fps": round(self.fps, 2),
            "overhead": round(self.overhead, 4),
            "model_versions": self.versions,
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
        version: int | None = None,
        tiles: str = "off",
        tile_overlap: float = 0.2,
        tile_full_frame: bool = True,
        tile_merge: float = 0.5,
        tracking: Tracking | None = None,
    ):
        self.backend, self.sinks = backend, sinks
        self.model = Running(backend.info, version)
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.tiles, self.tile_overlap, self.tile_full_frame, self.tile_merge = (
            tiles,
            tile_overlap,
            tile_full_frame,
            tile_merge,
        )
        self.tracking = tracking
        self.queue_size = queue_size
        self.on_frame = on_frame
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._next: tuple[Backend, Running] | None = None
        self._swap_lock = threading.Lock()
        self._model_seconds = 0.0
        self.swaps = 0
        self.frames_done = 0  # frames through the outputs so far (heartbeats report the rate)

    def stop(self) -> None:
        self._stop.set()

    def swap(self, backend: Backend, version: int | None) -> None:
        """Run ``backend`` (loaded, warmed up) from the next batch on; the pipeline closes the old one.
        A swap not yet adopted is replaced (and closed) by a newer one."""
        with self._swap_lock:
            replaced, self._next = self._next, (backend, Running(backend.info, version))
        if replaced is not None:
            replaced[0].close()

    def _adopt(self) -> None:
        """Reader thread, between batches: take over a model handed in by :meth:`swap`."""
        with self._swap_lock:
            handed, self._next = self._next, None
        if handed is not None:
            self.backend, self.model = handed
            self.swaps += 1
            log.info("now running model version %s (%s)", self.model.version, self.backend.name)

    def close(self) -> None:
        """Close the running backend and any handed in but not adopted."""
        with self._swap_lock:
            handed, self._next = self._next, None
        for backend in (self.backend, handed[0] if handed else None):
            if backend is not None:
                backend.close()

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

    def _views(self, frame: Frame, backend: Backend) -> list[tuple[View, tuple[int, int]]]:
        """The views of a frame and the input size of each: tiles and the whole frame at the model's
        input size; an untiled frame on a dynamic-size model at ultralytics' rect size."""
        height, width = frame.image.shape[:2]
        views = windows((height, width), backend.input_size, self.tiles, self.tile_overlap, self.tile_full_frame)
        if len(views) == 1 and backend.dynamic_size:
            return [(views[0], rect_size((height, width), backend.input_size))]
        return [(view, backend.input_size) for view in views]

    def _reader(self, frames: Iterable[Frame], out: queue.Queue, workers: int) -> None:
        try:
            pending: list[tuple[FrameWork, Placement]] = []
            buffer = backend = model = None
            sent = 0

            def send(batch: Batch) -> None:
                nonlocal sent
                batch.number, sent = sent, sent + 1
                self._put(out, batch)

            def flush() -> None:
                nonlocal pending
                if pending:
                    send(Batch(pending, buffer[: len(pending)], backend, model))
                    pending = []

            for frame in frames:
                if self._stop.is_set():
                    raise Stopped
                # Between two frames, with no view of an earlier frame waiting: the one place a new model
                # may take over (a swap handed in sends the views waiting now as a short batch).
                if self._next is not None:
                    flush()
                if not pending:
                    self._adopt()
                    backend, model = self.backend, self.model
                views = self._views(frame, backend)
                work = FrameWork(frame, len(views), model)
                for view, size in views:
                    if pending and buffer.shape[1:3] != size:
                        flush()  # one batch, one input size
                    if not pending:
                        buffer = np.empty((backend.batch, *size, 3), np.uint8)
                    crop = frame.image[view.y : view.y + view.h, view.x : view.x + view.w]
                    _, placement = letterbox(crop, size, out=buffer[len(pending)], x0=view.x, y0=view.y)
                    pending.append((work, placement))
                    if len(pending) == backend.batch:
                        send(Batch(pending, buffer, backend, model))
                        pending = []
            flush()  # the last, short batch: the backend pads it if its model needs a full one
            for _ in range(workers):
                self._put(out, _End(sent))
        except Stopped:
            pass
        except BaseException as exc:
            self._fail(exc)

    def _model(self, inbox: queue.Queue, out: queue.Queue) -> None:
        """One model thread: batches in, outputs out, in whatever order they finish."""
        try:
            while True:
                item = self._get(inbox)
                if isinstance(item, _End):
                    self._put(out, item)
                    return
                backend = item.backend
                with backend.slots:  # a backend swapped in may run fewer batches at once
                    item.output = backend.infer(item.images)
                    item.seconds = backend.last_seconds
                self._put(out, item)
        except Stopped:
            pass
        except BaseException as exc:
            self._fail(exc)

    def _in_order(self, results: queue.Queue) -> Iterator[Batch]:
        """The model threads' batches in the reader's order, until the last one it sent."""
        waiting: dict[int, Batch] = {}
        following, end = 0, None
        while end is None or following < end:
            item = self._get(results)
            if isinstance(item, _End):
                end = item.batches
                continue
            waiting[item.number] = item
            while following in waiting:
                yield waiting.pop(following)
                following += 1

    def _fail(self, exc: BaseException) -> None:
        self._errors.append(exc)
        self._stop.set()

    def _emit(self, batch: Batch, stats: Stats) -> int:
        """Decode the batch's views; emit each frame whose last view this is. Returns the frames emitted."""
        emitted = 0
        for (work, placement), raw in zip(batch.views, batch.output, strict=True):
            work.parts.append(postprocess(raw, placement, self.conf, self.iou, self.max_det))
            stats.views += 1
            if len(work.parts) == work.views:
                self._emit_frame(work, stats)
                emitted += 1
        stats.batches += 1
        return emitted

    def _emit_frame(self, work: FrameWork, stats: Stats) -> None:
        frame, model = work.frame, work.model
        info = model.info
        if not stats.versions or stats.versions[-1] != model.version:
            stats.versions.append(model.version)
        detections = merge(work.parts, self.tile_merge, self.max_det) if work.views > 1 else work.parts[0]
        if self.tracking is not None:
            detections = self.tracking.step(frame, detections, info)
        drawn = None
        if any(s.needs_drawing for s in self.sinks):
            drawn = draw_labelled(frame.image.copy(), detections.boxes, detections.classes, detections.labels(info))
            if self.tracking is not None and self.tracking.events is not None:
                self.tracking.events.draw(drawn)  # the counting lines and zones, with their counts
        for sink in self.sinks:
            sink.write(frame, detections, drawn, model)
        if self.on_frame:
            self.on_frame(frame, detections)
        stats.frames += 1
        self.frames_done += 1
        stats.detections += len(detections)
        for cls in detections.classes:
            name = info.name(int(cls))
            stats.per_class[name] = stats.per_class.get(name, 0) + 1
        if any(getattr(s, "stopped", False) for s in self.sinks):
            self._stop.set()

    def run(self, frames: Iterable[Frame], progress: Callable[[int], None] | None = None) -> Stats:
        """Process every frame; returns the figures. Raises the first error of any stage."""
        workers = max(1, self.backend.runs_at_once)  # a model swapped in later runs at most as many at once
        stats = Stats(runs_at_once=workers)
        self._model_seconds = 0.0
        batches: queue.Queue = queue.Queue(self.queue_size)
        results: queue.Queue = queue.Queue(self.queue_size + workers)
        threads = [
            threading.Thread(
                target=self._reader, args=(frames, batches, workers), name="inference-reader", daemon=True
            ),
            *(
                threading.Thread(target=self._model, args=(batches, results), name=f"inference-model-{n}", daemon=True)
                for n in range(workers)
            ),
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        running = None
        try:
            for item in self._in_order(results):
                retired = running if running is not None and item.backend is not running else None
                running = item.backend
                self._model_seconds += item.seconds
                done = self._emit(item, stats)
                if retired is not None:
                    # The first batch of a swapped-in model is out, so every batch of the one before it
                    # is through (batches come in order): it is closed here, right after a frame went
                    # out, when the frames' threads are between frames. Its destructor holds the GIL
                    # (about 3 ms); in a low-priority thread the scheduler could stretch that.
                    retired.close()
                if progress and done:
                    progress(done)
        except Stopped:
            pass
        except BaseException:
            self._stop.set()
            raise
        finally:
            self._stop.set()  # the workers leave now if they have not yet
            for thread in threads:
                thread.join(timeout=30)
            if running is not None and running is not self.backend:  # swapped out, its batches cut short
                running.close()
            stats.wall_seconds = time.perf_counter() - started
            stats.model_seconds = self._model_seconds
            if self.tracking is not None:
                stats.track_seconds = self.tracking.seconds
        if self._errors:
            raise self._errors[0]
        return stats
