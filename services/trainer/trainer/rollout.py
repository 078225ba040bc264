"""Staged rollouts: a release reaches a growing share of the fleet, and halts by itself when its canaries fail.

``python -m trainer release rollout VERSION --steps 0.1,0.5,1 --every 3600`` points the channel at
VERSION for the first share of the fleet (a device takes it when a stable hash of its name falls under
the share: :func:`azaion_shared.releases.rollout_slot`; the others stay on the release the channel
ran), then, every ``--every`` seconds, reads the device inventory: the canaries are the devices that
report running VERSION and those that report it refused (``release N refused`` in their heartbeat's
error). When more than ``--max-failing`` of them failed, the rollout halts: the channel goes back to
the previous release for everyone, and the command exits 3 saying why. Otherwise the share widens to
the next step, until the whole fleet runs it. Widening by hand is ``release promote VERSION --fraction F``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from trainer.errors import TrainerError

log = logging.getLogger(__name__)


@dataclass
class Health:
    version: int
    running: list[str] = field(default_factory=list)  # devices that report running the release
    failing: dict[str, str] = field(default_factory=dict)  # device -> its error about the release

    @property
    def reports(self) -> int:
        return len(self.running) + len(self.failing)

    @property
    def failing_share(self) -> float:
        return len(self.failing) / self.reports if self.reports else 0.0

    def summary(self) -> str:
        return f"release {self.version}: {len(self.running)} device(s) run it, {len(self.failing)} refused it"


def health(devices: list, version: int) -> Health:
    """The canaries of ``version`` in the inventory (``ApiClient.devices()``)."""
    found = Health(version)
    refused = f"release {version} refused"
    for device in devices:
        if device.last_error and refused in device.last_error:
            found.failing[device.name] = device.last_error
        elif device.version == str(version):
            found.running.append(device.name)
    return found


@dataclass
class Outcome:
    completed: bool
    steps: list[str]


def roll_out(
    publisher,
    version: int,
    steps: list[float],
    every: float,
    max_failing: float = 0.25,
    min_reports: int = 1,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Widen ``version`` over ``steps`` (shares of the fleet, the last 1), halting on failing canaries."""
    if not steps or any(not 0 < s <= 1 for s in steps) or steps != sorted(steps) or steps[-1] != 1:
        raise TrainerError(f"--steps {steps}: growing shares of the fleet, each above 0, the last 1 (e.g. 0.1,0.5,1)")
    present = publisher.present()
    current = publisher.pointer(present)
    previous = current.version if current is not None and current.version != version else None
    done = []
    for i, share in enumerate(steps):
        pointer = publisher.promote(version, share)
        done.append(f"{share:.0%} of the fleet on release {version}")
        log.info("rollout of release %d: %s", version, done[-1])
        if i == len(steps) - 1:
            return Outcome(True, done)
        sleep(every)
        seen = health(publisher.api.devices(), version)
        log.info("rollout of release %d: %s", version, seen.summary())
        if seen.reports >= min_reports and seen.failing_share > max_failing:
            back = pointer.previous or previous
            if back is not None:
                publisher.promote(back)
            why = "; ".join(f"{name}: {error[:120]}" for name, error in sorted(seen.failing.items())[:3])
            done.append(
                f"halted: {seen.summary()} (over {max_failing:.0%}); the channel is back on release {back}: {why}"
            )
            return Outcome(False, done)
        if seen.reports < min_reports:
            done.append(f"{seen.summary()}: fewer than {min_reports} report(s) yet; widening on schedule")
    return Outcome(True, done)
