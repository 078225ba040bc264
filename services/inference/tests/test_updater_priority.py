"""Issue 28's swap without a stutter, the updater's share: what it does beside the frames (a poll's
metadata checks, a heartbeat) takes only the CPU the frames leave, and Python threads hand the GIL over
after 1 ms once a device follows a fleet."""

from __future__ import annotations

import os
import sys
import threading
from types import SimpleNamespace

from inference.fleet import Updater
from inference.priority import GIL_TURN, LOWEST_PRIORITY


def priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


class Channel:
    name, version, confirmed_at, cache = "stable", 1, None, None

    def __init__(self, seen: dict):
        self.seen = seen
        self.api = SimpleNamespace(heartbeat=lambda *beat: seen.setdefault("beat", (priority(), beat)))

    def poll(self):
        self.seen["poll"] = priority()


def test_polls_and_heartbeats_run_at_the_lowest_priority_and_gil_turns_are_short():
    before = sys.getswitchinterval()
    seen: dict = {}
    options = SimpleNamespace(poll_seconds=3600, heartbeat_seconds=0, name=lambda: "device-1")
    updater = Updater(Channel(seen), None, SimpleNamespace(frames_done=0), 1, options, "onnxruntime")
    mine = priority()
    try:
        updater.start()
        assert sys.getswitchinterval() == GIL_TURN < before
        updater.check()
        updater.heartbeat()
    finally:
        updater.stop()
        sys.setswitchinterval(before)
    assert seen["poll"] == LOWEST_PRIORITY
    beat_priority, beat = seen["beat"]
    assert beat_priority == LOWEST_PRIORITY and beat[:3] == ("device-1", "1", "onnxruntime")
    assert priority() == mine  # the caller's thread keeps its priority
