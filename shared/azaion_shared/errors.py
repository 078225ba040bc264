"""The exceptions of the shared library.

Every error this package raises on purpose derives from :class:`AzaionError`,
so a service can catch one type at its top level::

    AzaionError
    ├── ConfigError          settings missing, malformed or unsafe
    ├── LabelError           a YOLO label file or line that cannot be used
    ├── MessageDecodeError   a stream message that does not follow the wire format
    └── AtomicWriteError     a file could not be written or moved durably

Third-party exceptions are translated at the boundary that meets them
(``raise XError(...) from exc``), never leaked.
"""

from __future__ import annotations

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
