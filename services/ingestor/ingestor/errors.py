"""Errors of the ingestor::

IngestorError
├── FatalConfigError   bad configuration: the service exits non-zero with this message
├── InapplicableError  a well-formed message that cannot be applied (goes to data-rejected/)
├── AmqpFormatError    bytes that are not an AMQP 1.0 message (rejected before rstream's decoder)
└── SessionEnded       a stream session must end (connection closed, watchdog); the supervisor reconnects
"""

from azaion_shared.errors import AzaionError


class IngestorError(AzaionError):
    """Base of the ingestor's errors."""


class FatalConfigError(IngestorError):
    """Wrong credentials, unknown virtual host, unreadable checkpoint: retrying cannot help."""


class InapplicableError(IngestorError):
    """The message decoded but cannot be applied (an image that does not decode, a box outside the image)."""


class AmqpFormatError(IngestorError):
    """Not a well-formed AMQP 1.0 message."""


class SessionEnded(IngestorError):
    """The session must end (connection closed, metadata changed, watchdog)."""
