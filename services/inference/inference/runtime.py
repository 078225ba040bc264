"""From a decrypted model to a running backend; which backends this machine can run."""

from __future__ import annotations

import logging

from inference.acquire import Acquirer, Model
from inference.backends.base import Backend
from inference.device import Device
from inference.errors import ModelError
from inference.settings import InferenceOptions

log = logging.getLogger(__name__)

BACKENDS = ("onnxruntime", "tensorrt", "rknn")


def availability() -> dict[str, tuple[bool, str]]:
    from inference.backends import onnx, rknn, tensorrt

    return {"onnxruntime": onnx.available(), "tensorrt": tensorrt.available(), "rknn": rknn.available()}


def open_backend(model: Model, options: InferenceOptions) -> Backend:
    if model.kind == "engine":
        from inference.backends.tensorrt import TensorRTBackend

        return TensorRTBackend(model.payload)
    if model.kind == "rknn":
        from inference.backends.rknn import RknnBackend

        return RknnBackend(model.payload)
    from inference.backends.onnx import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model.payload, threads=options.threads)


def acquire_backend(acquirer: Acquirer, device: Device, options: InferenceOptions) -> tuple[Model, Backend]:
    """Fetch the model for this device and open it; an engine that does not fit this GPU is rebuilt here."""
    model = acquirer.acquire(device, options.backend)
    try:
        return model, open_backend(model, options)
    except ModelError as exc:
        if model.kind != "engine" or model.origin == "built here":
            raise
        log.warning("%s (%s) does not run here: %s; building a new one", model.name, model.origin, exc)
        model = acquirer.build_engine(model.name)
        return model, open_backend(model, options)
