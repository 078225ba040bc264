"""Errors of the inference service::

InferenceError
├── ModelError            the model cannot be fetched, decrypted, read or built
├── BackendUnavailable    the runtime a backend needs is not installed or finds no device
├── SourceError           the video source cannot be opened or read
├── OutputError           an output cannot be opened (a window without GUI support, a file, a port)
└── Stopped               inside the pipeline: another stage failed or the user stopped it (never escapes)
"""

from azaion_shared.errors import AzaionError


class InferenceError(AzaionError):
    """Base of the inference service's errors."""


class ModelError(InferenceError):
    """The model cannot be fetched, decrypted, read or built."""


class BackendUnavailable(InferenceError):
    """A backend's runtime is missing here (the message says what to install or which backend to use)."""


class SourceError(InferenceError):
    """The video source cannot be opened or read."""


class OutputError(InferenceError):
    """An output cannot be opened."""


class Stopped(InferenceError):
    """Raised inside a worker when another part of the pipeline failed or the user stopped it."""
