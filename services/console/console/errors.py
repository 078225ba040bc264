"""Errors of the console::

ConsoleError
├── Unauthorized    no session, an expired one, or a user who is not an Admin
└── ApiUnreachable  the api did not answer, or answered with a server error (shown on the page)
"""

from azaion_shared.errors import AzaionError


class ConsoleError(AzaionError):
    """Base of the console's errors."""


class Unauthorized(ConsoleError):
    """The request has no valid Admin session."""


class ApiUnreachable(ConsoleError):
    """The api did not answer (or answered with a server error)."""
