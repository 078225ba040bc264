"""Errors of the ingestor::

IngestorError
├── FatalConfigError   bad configuration: the service exits non-zero with this message
└── InapplicableError  a well-formed message that cannot be applied (goes to data-rejected/)
"""

from azaion_shared.errors import AzaionError


class IngestorError(AzaionError):
    """Base of the ingestor's errors."""


class FatalConfigError(IngestorError):
    """Wrong credentials, unknown virtual host, unreadable checkpoint: retrying cannot help."""


class InapplicableError(IngestorError):
    """The message decoded but cannot be applied (an image that does not decode, a box outside the image)."""
