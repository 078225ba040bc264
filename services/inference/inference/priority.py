"""Work beside the frames: a new release's download, checks, decryption and trial run take only the CPU
the running model leaves, so that a swap does not stall the video (issue 28). Used for what ends when
it is done; never for anything that lives on and serves frames (an inference session and its threads)."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
LOWEST_PRIORITY = 19  # nice: the scheduler gives such a thread only the CPU that others leave
#: seconds a thread running Python keeps the GIL while another waits for it (Python's default: 0.005)
GIL_TURN = 0.001


def _lower() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)
    except (AttributeError, OSError) as exc:
        log.debug("could not lower this thread's priority: %s", exc)


def short_gil_turns() -> None:
    """Make a thread that runs Python hand the GIL over after 1 ms instead of 5 when another waits for it.
    A priority orders the CPU, not the GIL: a fleet updater verifying metadata at nice 19 would otherwise
    hold each of the frame threads (reader, model, outputs) up to 5 ms at every hand-over, up to 15 ms a
    frame (measured: the longest frame gaps of a quiet run came with the channel's polls). Process-wide,
    as Python has it; the cost is a few more hand-overs when two threads both run Python."""
    if sys.getswitchinterval() > GIL_TURN:
        sys.setswitchinterval(GIL_TURN)


def at_lowest_priority(work: Callable[[], T]) -> T:
    """``work()`` in a thread of its own at the lowest CPU priority, waited for. The thread ends with the
    work, so nothing that outlives it inherits its priority (an unprivileged process cannot raise a
    priority again, and a session's worker threads take their creator's). Where the priority cannot be
    lowered (not Linux) the work runs all the same."""
    outcome: list = []

    def body() -> None:
        _lower()
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # handed to the caller's thread as it was
            outcome.append((False, exc))

    thread = threading.Thread(target=body, name="low-priority", daemon=True)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value
