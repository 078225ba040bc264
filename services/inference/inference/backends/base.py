"""The interface every backend offers to the pipeline, and what each backend module offers the device.

Each format has one module here (``onnx``, ``tensorrt``, ``rknn``), the only one that touches its SDK
wrapper (:mod:`azaion_shared.vendors`). Besides its :class:`Backend` class it offers the device's way
from a release to running that backend, ``prepare(release, store, device, options, forced)``: whether it
can run here, which artifact of the release it wants for this device, building from ONNX where it
must (TensorRT), fetching the bytes from the store (:mod:`inference.store`), opening and warming them
up; None when the device should run ONNX instead (said in the log). ``open_model(model, options)``
opens bytes it is given (a local file).

A backend takes a batch of letterboxed RGB uint8 images ``(n, h, w, 3)`` with ``n <= batch`` and
returns the raw YOLO output ``(n, 4 + classes, anchors)`` as float32. A backend whose model has a
fixed batch pads a short batch itself and drops the padded rows. ``model_seconds`` adds up the
time spent inside the runtime (copies to and from the device included), for the overhead figure.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager

import numpy as np

from azaion_shared.model_info import ModelInfo, info_of_bundle


class Backend(ABC):
    """Subclasses set, in ``__init__``: ``batch`` (the largest batch one call runs; a fixed-batch model
    runs exactly this many, padded), ``input_size`` ((height, width) the images are letterboxed to),
    ``info`` (class names and the rest of the model's metadata) and, for a dynamic batch,
    ``fixed_batch = False``; for a dynamic input size ``dynamic_size = True`` (``input_size`` is then
    the largest side the model was exported for). ``runs_at_once``: how many batches the pipeline may
    run on it at the same time, from as many threads (1 unless the runtime is safe and faster so:
    :meth:`allow_runs`)."""

    name: str = "backend"
    batch: int
    input_size: tuple[int, int]
    info: ModelInfo
    fixed_batch: bool = True
    dynamic_size: bool = False  # the model takes any input size: frames are letterboxed as ultralytics' rect

    def __init__(self) -> None:
        self.model_seconds = 0.0
        self.calls = 0
        self._count = threading.Lock()
        self._last = threading.local()
        self.allow_runs(1)

    def allow_runs(self, runs: int) -> None:
        """Let the pipeline run ``runs`` batches at once on this backend (``slots`` holds them to it)."""
        self.runs_at_once = runs
        self.slots = threading.BoundedSemaphore(runs)

    @property
    def last_seconds(self) -> float:
        """The time the calling thread's last :meth:`infer` spent inside the runtime."""
        return getattr(self._last, "seconds", 0.0)

    @abstractmethod
    def _run(self, prepared) -> np.ndarray:
        """Raw output of the prepared batch (already padded when the model needs it)."""

    def prepare(self, images: np.ndarray):
        """The runtime's input made from uint8 RGB images (normalising is pipeline work, not model time)."""
        return images

    def infer(self, images: np.ndarray) -> np.ndarray:
        count = len(images)
        if not 1 <= count <= self.batch:
            raise ValueError(f"{self.name}: a batch of {count} images, expected 1..{self.batch}")
        if self.fixed_batch and count < self.batch:
            padded = np.zeros((self.batch, *images.shape[1:]), images.dtype)
            padded[:count] = images
            images = padded
        prepared = self.prepare(images)
        with self._timed():
            out = self._run(prepared)
        return out[:count]

    @contextmanager
    def _timed(self):
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self._last.seconds = spent
            with self._count:
                self.model_seconds += spent
                self.calls += 1

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release the runtime's resources."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def to_nchw(images: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """RGB uint8 (n, h, w, 3) -> normalised (n, 3, h, w) of ``dtype`` (divided by 255, as ultralytics does)."""
    out = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
    out /= np.float32(255)
    return out if dtype == np.float32 else out.astype(dtype)


def info_from_mapping(meta: dict) -> ModelInfo:
    """The model's ModelInfo from its metadata; unreadable metadata is a ModelError."""
    return ModelInfo.from_mapping(meta)


def unbundle(model: bytes, info: ModelInfo | None) -> tuple[ModelInfo, bytes]:
    """The info in front of an engine or RKNN model (``info`` wins when given) and the model itself."""
    found, payload = info_of_bundle(model)
    return info or found, payload


def warmed_up(backend: Backend, times: int = 1) -> Backend:
    """Run the backend ``times`` on a blank image, so that a model that loads but cannot run is caught
    now, before it replaces a working one (and its first real batches do not pay the start-up)."""
    from inference.errors import ModelError

    try:
        for _ in range(times):
            backend.infer(np.zeros((1, *backend.input_size, 3), np.uint8))
    except Exception as exc:
        backend.close()
        raise ModelError(f"the model loads but does not run: {exc}") from exc
    backend.model_seconds, backend.calls = 0.0, 0
    return backend
