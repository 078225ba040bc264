"""Where backends are chosen: from the release the fleet decided on to a running backend, and which
release a device starts with when the channel's does not run here (the one it ran last).

The way, in modules: ``fleet`` (which release) → ``runtime`` (which backend module) →
``backends/{onnx,tensorrt,rknn}`` (which artifact, building where it must, opening) → ``store``
(verified plaintext bytes) → ``azaion_shared.vendors.*`` (the SDK).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from azaion_shared.errors import ApiError, AzaionError
from azaion_shared.model_formats import AUTO, BACKENDS, ONNX, RKNN, TENSORRT
from azaion_shared.releases import Release
from inference.backends import onnx, rknn, tensorrt
from inference.backends.base import Backend, warmed_up
from inference.device import Device
from inference.errors import BackendUnavailable
from inference.settings import InferenceOptions
from inference.store import Model, ReleaseStore

log = logging.getLogger(__name__)

#: One module per format (inference.backends.*): each alone knows its hardware, artifacts and SDK.
BACKEND_OF = {ONNX.name: onnx, TENSORRT.name: tensorrt, RKNN.name: rknn}

__all__ = ["BACKEND_OF", "Started", "acquire_backend", "first_backend", "open_backend", "warmed_up"]


def open_backend(model: Model, options: InferenceOptions) -> Backend:
    """The backend of a model's format, opened on its bytes (a local file); an accelerator's runtime that
    is missing here says so with the way out (ONNX Runtime runs everywhere)."""
    try:
        return BACKEND_OF[model.format].open_model(model, options)
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"{exc}; or use --backend {ONNX.backend}") from exc


def acquire_backend(
    store: ReleaseStore, release: Release, device: Device, options: InferenceOptions
) -> tuple[Model, Backend]:
    """The release's model for this device on its running backend: the backend of what this device runs
    best (or ``--backend``), else ONNX Runtime when that backend says the device should. Whatever fails to
    load is a ModelError, and nothing of it stays open."""
    want = device.format if options.backend == AUTO else BACKENDS[options.backend]
    try:
        prepared = BACKEND_OF[want.name].prepare(release, store, device, options, forced=options.backend != AUTO)
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"{exc}; or use --backend {ONNX.backend}") from exc
    return prepared or onnx.prepare(release, store, device, options)


@dataclass
class Started:
    """The release a device starts with, its model on a running backend, and the releases it refused."""

    release: Release
    model: Model
    backend: Backend
    refused: dict[int, str] = field(default_factory=dict)


def first_backend(store: ReleaseStore, channel, begun, device: Device, options: InferenceOptions) -> Started:
    """The channel's release (``begun``: from ``fleet.start``) on its backend; when it does not run here,
    the release this device ran last, if any, with the refusal kept for the updater to report."""
    (log.warning if begun.offline else log.info)(begun.note)
    release = begun.release
    try:
        model, backend = acquire_backend(store, release, device, options)
        refused = {}
    except AzaionError as exc:
        fallback = store.cache.running()
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
        model, backend = acquire_backend(store, release, device, options)
    store.cache.save_running(release.version)
    return Started(release, model, backend, refused)
