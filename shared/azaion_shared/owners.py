"""Who wrote a temporary file, and whether that writer may still be working on it.

Several processes write into the same folders (augmentor replicas and their workers into
``data-processed/``; after a restart, a new ingestor or trainer beside what the old one left).
Every temporary name therefore carries its writer's :class:`Owner` tag, and clean-up removes a
temporary file only when it is provably abandoned:

- it is ours (this very process);
- its owner ran on this machine, in this PID namespace, since this boot, and that process is gone
  (no such pid, or a pid reused by a later process: the start time differs);
- or, for owners we cannot check (another host or container, or a name without a tag), it has
  not been touched for longer than a bound from settings (``AZAION_TEMP_MAX_AGE_MINUTES``).

A tag is ``{machine}-{pid}-{start}``: ``machine`` is 8 hex digits of a hash of the host name, the
boot id and the PID namespace (two containers never share one, even with equal host names);
``pid`` and ``start`` (the process's start time, in clock ticks since boot) are base 36, so that a
tag fits beside a 200-character annotation name in one file name.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from functools import cache

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
        if number == 0:
            return out


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return ""


@cache
def machine_id() -> str:
    """The same for every process that can see (and signal) the others' pids: host, boot, PID namespace."""
    try:
        pid_namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        pid_namespace = ""
    seed = "|".join((socket.gethostname(), _read("/proc/sys/kernel/random/boot_id"), pid_namespace))
    return hashlib.sha256(seed.encode()).hexdigest()[:8]


def process_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot; None when there is no such process, or only its
    zombie (an exited process whose parent has not reaped it: in a container whose first process does not
    reap orphans, killed workers stay zombies for good), or no /proc."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after its last ")".
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        if fields[0] in ("Z", "X"):  # field 3, the state: exited, writes nothing more
            return None
        return int(fields[19])  # field 22 of the whole line
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Owner:
    machine: str
    pid: int
    start: int

    @property
    def tag(self) -> str:
        return f"{self.machine}-{_base36(self.pid)}-{_base36(self.start)}"

    @classmethod
    def parse(cls, tag: str) -> Owner | None:
        parts = tag.split("-")
        if len(parts) != 3 or len(parts[0]) != 8:
            return None
        try:
            int(parts[0], 16)
            return cls(parts[0], int(parts[1], 36), int(parts[2], 36))
        except ValueError:
            return None

    def is_gone(self) -> bool:
        """True only when this process provably ended: same machine, and its pid is free or reused."""
        if self.machine != machine_id():
            return False
        if not os.path.isdir("/proc/self"):  # no way to compare start times: trust a pid that answers
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except OSError:
                return False
            return False
        return process_start(self.pid) != self.start


_current: dict[int, Owner] = {}


def current_owner() -> Owner:
    """This process (recomputed after a fork: a pool worker is an owner of its own)."""
    pid = os.getpid()
    owner = _current.get(pid)
    if owner is None:
        owner = _current[pid] = Owner(machine_id(), pid, process_start(pid) or 0)
    return owner
