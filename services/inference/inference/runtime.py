"""From a decrypted model to a running backend; which backends this machine can run."""

from __future__ import annotations

import logging

from azaion_shared.model_formats import RKNN, TENSORRT
from azaion_shared.releases import Release
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

    return OnnxRuntimeBackend(model.payload, threads=options.threads, spin=options.spin)


def acquire_backend(
    acquirer: Acquirer, release: Release, device: Device, options: InferenceOptions
) -> tuple[Model, Backend]:
    """Fetch the release's model for this device, open it and run it once; an engine that does not fit this
    GPU is rebuilt here. Whatever fails to load is a ModelError, and nothing of it stays open."""
    model = acquirer.acquire(release, device, options.backend)
    try:
        return model, warmed_up(open_backend(model, options))
    except ModelError as exc:
        if model.format != TENSORRT.name or model.origin == "built here":
            raise
        log.warning("%s (%s) does not run here: %s; building a new one", model.name, model.origin, exc)
        model = acquirer.build_engine(release, device)
        return model, warmed_up(open_backend(model, options))


def warmed_up(backend: Backend) -> Backend:
    """Run the backend once on a blank image, so that a model that loads but cannot run is caught now,
    before it replaces a working one (and its first real batch does not pay the start-up)."""
    import numpy as np

    try:
        backend.infer(np.zeros((1, *backend.input_size, 3), np.uint8))
    except Exception as exc:
        backend.close()
        raise ModelError(f"the model loads but does not run: {exc}") from exc
    backend.model_seconds, backend.calls = 0.0, 0
    return backend
