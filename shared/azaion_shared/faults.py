"""Named points where a test stops a real process on purpose (fault injection); inert unless asked.

Races and crashes are tested by stopping a process at the exact point, not by sleeping and hoping.
A test starts the process under test with ``AZAION_FAULT_POINTS=name[,name...]`` and
``AZAION_FAULT_DIR=folder``. When the process reaches a listed point it creates
``{folder}/{name}.{pid}.reached`` and waits until ``{folder}/{name}.release`` exists (at most
``AZAION_FAULT_TIMEOUT`` seconds, default 120), then goes on. Without those variables a point
costs one dictionary lookup.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


def pause_point(name: str) -> None:
    """Stop here while a test holds ``name`` (see the module docstring)."""
    points = os.environ.get("AZAION_FAULT_POINTS")
    if not points or name not in points.split(","):
        return
    folder = Path(os.environ.get("AZAION_FAULT_DIR", "."))
    (folder / f"{name}.{os.getpid()}.reached").touch()
    log.warning("fault point %s reached: waiting for %s", name, folder / f"{name}.release")
    deadline = time.monotonic() + float(os.environ.get("AZAION_FAULT_TIMEOUT", "120"))
    while not (folder / f"{name}.release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
