"""Login limits: failed attempts per account and per client address in a sliding window, and a bound on
how many password hashes run at once (argon2 takes 64 MiB each: unbounded, a few dozen concurrent
logins would exhaust a small server).

In memory, per api process: a restart forgets the windows (documented in docs/model-protection.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager

from api.errors import Busy


class SlidingWindow:
    """At most ``limit`` events per key in any ``seconds``-long window."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self.seconds, self.clock = limit, seconds, clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            return deque()
        while events and events[0] <= now - self.seconds:
            events.popleft()
        if not events:
            del self._events[key]
        return events

    def retry_after(self, key: str) -> int:
        """0 when ``key`` may try now; else whole seconds until it may."""
        with self._lock:
            now = self.clock()
            events = self._trim(key, now)
            if len(events) < self.limit:
                return 0
            return max(1, math.ceil(events[0] + self.seconds - now))

    def add(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            self._trim(key, now)
            self._events.setdefault(key, deque()).append(now)
            if len(self._events) > 100_000:  # a flood of distinct keys: forget the stalest
                for stale in list(self._events)[:10_000]:
                    del self._events[stale]

    def clear(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


class HashGate:
    """At most ``slots`` password hashes at a time; a caller that finds none free within ``wait`` seconds
    is refused rather than queued, so memory stays bounded whatever arrives."""

    def __init__(self, slots: int, wait: float = 0.5):
        self._slots = threading.BoundedSemaphore(slots)
        self.wait = wait

    @contextmanager
    def slot(self):
        if not self._slots.acquire(timeout=self.wait):
            raise Busy
        try:
            yield
        finally:
            self._slots.release()
