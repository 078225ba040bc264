"""Errors of the api service (all are :class:`azaion_shared.AzaionError`)::

ApiServiceError
├── UserError       a user command that cannot be done (exists, unknown role, ...)
├── ResourceError   a resource name or body that is refused
│   └── TooLargeError   an upload over the size limit (413)
├── TokenError      a token missing, malformed, expired or not ours (answered with 401)
├── Busy            every password-hash slot is taken (answered with 503 and Retry-After)
└── ConflictError   a release that exists with other content, a channel pointer that is not newer (409)
"""

from azaion_shared.errors import AzaionError


class ApiServiceError(AzaionError):
    """Base of the api service's errors."""


class UserError(ApiServiceError):
    """A user command that cannot be done."""


class ResourceError(ApiServiceError):
    """A resource name or body that is refused."""


class TokenError(ApiServiceError):
    """The token is missing, malformed, expired, or not signed by us (answered with 401)."""


class TooLargeError(ResourceError):
    pass


class Busy(ApiServiceError):
    """Every password-hash slot is taken (answered with 503 and Retry-After)."""


class ConflictError(ApiServiceError):
    """A release that exists with other content, or a channel pointer that is not newer (409)."""
