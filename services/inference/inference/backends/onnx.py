"""ONNX Runtime: the CPU everywhere, the CUDA provider where onnxruntime-gpu finds a GPU."""

from __future__ import annotations

import logging

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

    def __init__(self, model: bytes, threads: int = 0, providers: list[str] | None = None, spin: bool = False):
        super().__init__()
        # from bytes: the decrypted model never touches the disk
        self.session = onnxruntime.open_session(model, threads, providers, spin)
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
        log.info(
            "ONNX Runtime (%s): input %s, batch %d%s",
            ", ".join(self.session.get_providers()),
            self.input_size,
            self.batch,
            "" if self.fixed_batch else " (dynamic)",
        )

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
    """The release's ONNX model on ONNX Runtime (it runs everywhere), tried once on a blank image (a model
    that loads but cannot run is refused here) from a thread at the lowest CPU priority, so that the
    model serving frames meanwhile keeps the CPU. The session itself is opened at the caller's priority:
    its worker threads take their creator's, and would keep a low one for good."""
    model = model_for(release, store)
    backend = open_model(model, options)
    return model, at_lowest_priority(lambda: warmed_up(backend))


def open_model(model, options) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(model.payload, threads=options.threads, spin=options.spin)
