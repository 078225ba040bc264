"""Errors of the inference service::

InferenceError
├── SourceError           the video source cannot be opened or read
├── OutputError           an output cannot be opened (a window without GUI support, a file, a port)
└── Stopped               inside the pipeline: another stage failed or the user stopped it (never escapes)

and, under the shared tree's ApiError (the updater tries again at its next poll and refuses no release
for it)::

ApiError
└── HelperGone            the fleet helper process ended or cannot be started (started again at the next call)

and two of the shared tree under the names this service has always used, so that what a vendor
module raises reaches the device's report as it was raised, never translated into a twin:

ModelError            = azaion_shared.errors.ModelLoadError: the model cannot be fetched, decrypted,
                        read or built
BackendUnavailable    = azaion_shared.errors.RuntimeUnavailable: the runtime a backend needs is not
                        installed or finds no device
"""

from azaion_shared.errors import ApiError, AzaionError, ModelLoadError, RuntimeUnavailable

ModelError = ModelLoadError
BackendUnavailable = RuntimeUnavailable


class InferenceError(AzaionError):
    """Base of the inference service's errors."""


class SourceError(InferenceError):
    """The video source cannot be opened or read."""


class OutputError(InferenceError):
    """An output cannot be opened."""


class HelperGone(ApiError):
    """The fleet helper process ended or cannot be started; it is started again at the next call."""


class Stopped(InferenceError):
    """Raised inside a worker when another part of the pipeline failed or the user stopped it."""
