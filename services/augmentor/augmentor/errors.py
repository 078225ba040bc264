"""Errors of the augmentor::

AugmentorError
└── UnreadableImageError   an image or label in data/ that cannot be used (set aside, logged)
"""

from azaion_shared.errors import AzaionError


class AugmentorError(AzaionError):
    """Base of the augmentor's errors."""


class UnreadableImageError(AugmentorError):
    """The source image or its label cannot be read; the annotation is set aside until it changes."""
