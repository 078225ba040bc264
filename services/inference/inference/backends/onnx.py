"""ONNX Runtime: the CPU everywhere, the CUDA provider where onnxruntime-gpu finds a GPU."""

from __future__ import annotations

import logging
import os

import numpy as np

from azaion_shared.model_formats import ONNX
from azaion_shared.vendors import onnxruntime
from inference.backends.base import Backend, info_from_mapping, to_nchw, warmed_up
from inference.errors import ModelError
from inference.priority import at_lowest_priority

log = logging.getLogger(__name__)


def available() -> tuple[bool, str]:
    return onnxruntime.available()


class OnnxRuntimeBackend(Backend):
    name = ONNX.backend

    def __init__(
        self,
        model: bytes,
        threads: int = 0,
        providers: list[str] | None = None,
        spin: bool = False,
        optimized: bool = False,
        runs: int = 1,
    ):
        """``runs``: batches run at once, from as many threads, each with ``threads`` of its own (0: the
        cores shared out between the runs). ONNX Runtime runs one session from several threads safely;
        on a CPU two single-threaded runs do more than one run on two threads (yolo11n 320 px on two
        cores: 100 against 74 frames/s), at the price of each frame's latency. The CUDA provider runs
        one at a time."""
        super().__init__()
        threads = run_threads(threads, runs)
        # from bytes: the decrypted model never touches the disk
        self._adopt(onnxruntime.open_session(model, threads, providers, spin, optimized))
        self.allow_runs(runs if self.session.get_providers()[0] == "CPUExecutionProvider" else 1)
        log.info(
            "ONNX Runtime (%s): input %s, batch %d%s, %d at once",
            ", ".join(self.session.get_providers()),
            self.input_size,
            self.batch,
            "" if self.fixed_batch else " (dynamic)",
            self.runs_at_once,
        )

    @classmethod
    def tried(cls, model: bytes) -> bytes | None:
        """Run ``model`` once on a blank image in a single-threaded CPU session, all of it in the calling
        thread (a model that loads but cannot run is a ModelError); returns the graph as ONNX Runtime
        optimised it for this CPU (None where it does not keep one: see the vendor module)."""
        session, optimized = onnxruntime.optimizing_session(model)
        trial = cls.__new__(cls)
        Backend.__init__(trial)
        trial._adopt(session)
        warmed_up(trial).close()
        return optimized

    def _adopt(self, session) -> None:
        self.session = session
        self._input = self.session.get_inputs()[0]
        self._output = self.session.get_outputs()[0].name
        shape = self._input.shape
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError(f"the model's input {self._input.name} has shape {shape}, expected (batch, 3, h, w)")
        self.fixed_batch = isinstance(shape[0], int)
        meta = info_from_mapping(onnxruntime.properties(self.session))
        self.batch = shape[0] if self.fixed_batch else (meta.batch or 1)
        height, width = shape[2], shape[3]
        if not (isinstance(height, int) and isinstance(width, int)):
            if not meta.imgsz:
                raise ModelError("the model has a dynamic input size and no imgsz in its metadata")
            height, width = meta.imgsz
            self.dynamic_size = True
        self.input_size = (height, width)
        self._dtype = np.float16 if self._input.type == "tensor(float16)" else np.float32
        self.info = meta

    def prepare(self, images: np.ndarray) -> np.ndarray:
        return to_nchw(images, self._dtype)

    def close(self) -> None:
        self.session = None  # the session's memory and worker threads go now, in the closing thread

    def _run(self, prepared: np.ndarray) -> np.ndarray:
        (out,) = self.session.run([self._output], {self._input.name: prepared})
        return out.astype(np.float32, copy=False)


def model_for(release, store):
    """The release's ONNX model: the fallback every device needs."""
    artifact = release.artifact(ONNX.name)
    if artifact is None:
        raise ModelError(f"release {release.version} has no ONNX model, the fallback every device needs")
    return store.model(release, artifact)


def prepare(release, store, device, options, forced: bool = False):
    """The release's ONNX model on ONNX Runtime (it runs everywhere)."""
    model = model_for(release, store)
    return model, ready(model.payload, options)


def ready(payload: bytes, options) -> OnnxRuntimeBackend:
    """A serving session of the model, tried first, with the least work on the caller's priority, so
    that a model serving frames meanwhile keeps the CPU.

    On a CPU with one thread per run (two runs at once on two cores) the serving session starts no
    worker threads, so all of it happens in a thread at the lowest CPU priority: it is opened (the graph
    optimised for this CPU) and run twice on a blank image (a model that loads but cannot run is refused
    here; a fresh session's first runs take up to half as long again while its memory arena grows).
    A session with worker threads must be opened at the caller's priority, because its threads take
    their creator's and would keep a low one for good: a single-threaded session at the lowest priority
    first optimises the graph and runs it once, and the serving session opens from that graph, a third
    of the work (none of it holding the GIL). Where the CUDA provider serves, the CPU's graph does not
    apply: that session is opened as it is and tried too."""
    runs = options.runs_at_once()
    threads = run_threads(options.threads, runs)
    if threads == 1 and not onnxruntime.gpu_present():
        return at_lowest_priority(
            lambda: warmed_up(OnnxRuntimeBackend(payload, threads=1, spin=options.spin, runs=runs), times=2)
        )
    optimized = at_lowest_priority(lambda: OnnxRuntimeBackend.tried(payload))
    if optimized is not None:
        return OnnxRuntimeBackend(optimized, threads=threads, spin=options.spin, optimized=True, runs=runs)
    backend = OnnxRuntimeBackend(payload, threads=options.threads, spin=options.spin, runs=runs)
    return at_lowest_priority(lambda: warmed_up(backend))


def run_threads(threads: int, runs: int) -> int:
    """The threads each run gets: ``threads`` when given; with several runs at once an equal share of
    the cores (at least one); else 0 (ONNX Runtime's default, all of them)."""
    if threads or runs <= 1:
        return threads
    return max(1, (os.cpu_count() or 1) // runs)


def open_model(model, options) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(model.payload, threads=options.threads, spin=options.spin, runs=options.runs_at_once())
