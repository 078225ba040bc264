"""Azaion shared library: what every service of the pipeline imports.

Modules (import what you need; nothing here does work at import time):

- :mod:`azaion_shared.settings`  pydantic-settings base, ``AZAION_`` prefix
- :mod:`azaion_shared.paths`     :class:`DataRoot`, every folder of the data root
- :mod:`azaion_shared.labels`    YOLO label parsing/formatting with validation
- :mod:`azaion_shared.boxes`     box correction (clip, drop degenerate)
- :mod:`azaion_shared.atomic`    crash-safe writes and pair moves
- :mod:`azaion_shared.messages`  the annotation stream's wire format
- :mod:`azaion_shared.logs`      logging set-up (text or JSON)
"""

from azaion_shared.errors import (
    AtomicWriteError,
    AzaionError,
    ConfigError,
    LabelError,
    MessageDecodeError,
)

__version__ = "0.1.0"

__all__ = [
    "AtomicWriteError",
    "AzaionError",
    "ConfigError",
    "LabelError",
    "MessageDecodeError",
    "__version__",
]
