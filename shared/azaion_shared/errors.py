"""The exceptions of the shared library.

Every error this package raises on purpose derives from :class:`AzaionError`,
so a service can catch one type at its top level::

    AzaionError
    ├── ConfigError              settings missing, malformed or unsafe
    ├── LabelError               a YOLO label file or line that cannot be used
    ├── MessageDecodeError       a stream message that does not follow the wire format
    ├── AtomicWriteError         a file could not be written or moved durably
    ├── DecryptionError          an encrypted model that cannot be trusted (crypto)
    ├── ApiError                 the api could not be reached or refused (api_client)
    │   ├── ApiAuthError         wrong credentials, or a role that may not do this
    │   └── ApiNotFoundError     no such resource
    ├── StorageError             the CDN could not store or return an object (cdn)
    │   └── ChecksumMismatchError
    ├── SignatureError           a release document not signed by a trusted publisher key (signing)
    ├── ModelRuntimeError        a vendor runtime (ONNX Runtime, TensorRT, RKNN) and a model
    │   ├── RuntimeUnavailable   the runtime is not installed here, or finds no device
    │   └── ModelLoadError       the runtime cannot read, parse or build the model
    └── each service's own base: IngestorError, AugmentorError, TrainerError, InferenceError,
        ApiServiceError (in ``<service>/errors.py``)

Third-party exceptions are translated at the one module that meets them, with one table per family
(:func:`map_exceptions`, as httpx's ``_exceptions.py`` does): HTTP in ``api_client`` (httpx), S3 in
``cdn`` (botocore), each vendor SDK in its ``vendors/*`` module. Our own exceptions travel as they
were raised: a service never re-raises one of ours as a twin of its own. A service's ``main`` runs
through :func:`azaion_shared.cli.run_main`, which turns any of these into exit status 2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path


class AzaionError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class ConfigError(AzaionError):
    """Configuration is missing, malformed, or unsafe for this environment."""


class LabelError(AzaionError):
    """A YOLO label that cannot be used; names the file and the line."""

    def __init__(self, message: str, source: str | Path | None = None, line: int | None = None):
        self.reason = message
        self.source = str(source) if source is not None else None
        self.line = line
        where = self.source or "<labels>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class MessageDecodeError(AzaionError):
    """A stream message that is not a valid annotation message (any malformation)."""


class AtomicWriteError(AzaionError):
    """A file could not be written, replaced or moved durably."""


class DecryptionError(AzaionError):
    """The encrypted model cannot be trusted: wrong key, truncated, tampered, or mismatched parts."""


class ApiError(AzaionError):
    """The api service could not be reached, or refused the request."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ApiAuthError(ApiError):
    """Wrong credentials, or a role that may not do this."""


class ApiNotFoundError(ApiError):
    """The resource does not exist on the server."""


class TransferInterrupted(ApiError):
    """A download that may succeed when tried again: a 5xx, an expired link, a body cut short."""


class StorageError(AzaionError):
    """The CDN could not store or return an object."""


class ChecksumMismatchError(StorageError):
    """A downloaded object's SHA-256 differs from the one recorded at upload."""


class SignatureError(AzaionError):
    """Signed metadata (TUF roles, a release manifest, a channel pointer) that the trusted keys do not vouch
    for: forged, under-signed, older than what was seen, inconsistent, or the wrong document."""


class StaleMetadataError(SignatureError):
    """Metadata past its expiry: the repository stopped re-signing it (stuck, restored from a backup, or
    withholding updates: a freeze)."""


class ModelRuntimeError(AzaionError):
    """A vendor runtime (ONNX Runtime, TensorRT, RKNN) and a model did not work together."""


class RuntimeUnavailable(ModelRuntimeError):
    """The runtime is not installed here, or finds no device (the message says what to install)."""


class ModelLoadError(ModelRuntimeError):
    """The runtime cannot read, parse or build the model."""


@contextlib.contextmanager
def map_exceptions(table: Mapping[type[BaseException], type[AzaionError]], what: str) -> Iterator[None]:
    """Inside the block, a foreign exception listed in ``table`` becomes ours: ``ours(f"{what}: {exc}")``,
    chained to it. The first matching entry wins; anything else passes through untouched."""
    try:
        yield
    except tuple(table) as exc:
        ours = next(target for foreign, target in table.items() if isinstance(exc, foreign))
        raise ours(f"{what}: {exc}") from exc
