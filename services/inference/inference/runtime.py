"""Where backends are chosen: from a decrypted model to a running backend, and which release a device
starts with when the channel's does not run here (the one it ran last)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from azaion_shared.errors import ApiError, AzaionError
from azaion_shared.model_formats import ONNX, RKNN, TENSORRT
from azaion_shared.releases import Release
from inference.acquire import Acquirer, Model
from inference.backends.base import Backend
from inference.device import Device
from inference.errors import BackendUnavailable, ModelError
from inference.settings import InferenceOptions

log = logging.getLogger(__name__)


def open_backend(model: Model, options: InferenceOptions) -> Backend:
    """The backend of the model's format (azaion_shared.model_formats); an accelerator's runtime that is
    missing here says so with the way out (ONNX Runtime runs everywhere)."""
    try:
        if model.format == TENSORRT.name:
            from inference.backends.tensorrt import TensorRTBackend

            return TensorRTBackend(model.payload)
        if model.format == RKNN.name:
            from inference.backends.rknn import RknnBackend

            return RknnBackend(model.payload)
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"{exc}; or use --backend {ONNX.backend}") from exc
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


@dataclass
class Started:
    """The release a device starts with, its model on a running backend, and the releases it refused."""

    release: Release
    model: Model
    backend: Backend
    refused: dict[int, str] = field(default_factory=dict)


def first_backend(acquirer: Acquirer, channel, begun, device: Device, options: InferenceOptions) -> Started:
    """The channel's release (``begun``: from ``fleet.start``) on its backend; when it does not run here,
    the release this device ran last, if any, with the refusal kept for the updater to report."""
    (log.warning if begun.offline else log.info)(begun.note)
    release = begun.release
    try:
        model, backend = acquire_backend(acquirer, release, device, options)
        refused = {}
    except AzaionError as exc:
        fallback = acquirer.cache.running()
        if fallback is None or fallback == release.version or isinstance(exc, ApiError):
            raise
        log.error(
            "release %d refused (%s); starting with release %d, the last one this device ran",
            release.version,
            exc,
            fallback,
        )
        refused = {release.version: str(exc)}
        release = channel.release(fallback)
        model, backend = acquire_backend(acquirer, release, device, options)
    acquirer.cache.save_running(release.version)
    return Started(release, model, backend, refused)


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
