"""Errors of the trainer::

TrainerError
├── DatasetError     no usable data, or a dataset that cannot be formed
├── TrainingError    training cannot start or resume
└── ExportError      an export that fails or a format this machine cannot build
"""

from azaion_shared.errors import AzaionError


class TrainerError(AzaionError):
    """Base of the trainer's errors."""


class DatasetError(TrainerError):
    """No usable data, or a dataset that cannot be formed."""


class TrainingError(TrainerError):
    """Training cannot start or resume."""


class ExportError(TrainerError):
    """An export failed, or this machine cannot build the format."""
