"""Errors of the console::

ConsoleError
└── Unauthorized    no session, an expired one, or a user who is not an Admin
"""

from azaion_shared.errors import AzaionError


class ConsoleError(AzaionError):
    """Base of the console's errors."""


class Unauthorized(ConsoleError):
    """The request has no valid Admin session."""
