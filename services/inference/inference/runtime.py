"""From a decrypted model to a running backend; which backends this machine can run."""

from __future__ import annotations

import logging

from azaion_shared.model_formats import RKNN, TENSORRT
from inference.acquire import Acquirer, Model
from inference.backends.base import Backend
from inference.device import Device
from inference.errors import ModelError
from inference.settings import InferenceOptions

log = logging.getLogger(__name__)


def open_backend(model: Model, options: InferenceOptions) -> Backend:
    """The backend of the model's format (azaion_shared.model_formats)."""
    if model.format == TENSORRT.name:
        from inference.backends.tensorrt import TensorRTBackend

        return TensorRTBackend(model.payload)
    if model.format == RKNN.name:
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
        if model.format != TENSORRT.name or model.origin == "built here":
            raise
        log.warning("%s (%s) does not run here: %s; building a new one", model.name, model.origin, exc)
        model = acquirer.build_engine(model.name)
        return model, open_backend(model, options)
