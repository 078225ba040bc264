"""The ingestor's supervisor: sessions with the stream, one after another, and the reconnects between.

rstream's own recovery is off: it gives up silently, may resubscribe at the wrong offset and cancels
callbacks mid-work (docs: the stream client's traps). Instead each *session* (``ingestor.session``)
creates a consumer, subscribes at checkpoint + 1 and runs until the connection closes, the stream's
metadata changes, or the watchdog finds the broker silent; the supervisor then backs off (capped,
exponential, with jitter; back to the start as soon as a session is healthy, and cut short the moment a
broker that was unreachable answers again) and starts a new session from the checkpoint.

Within a session the rstream callback only queues raw bytes; the committer (``ingestor.commit``) applies
them in batches and commits each one (tasks published, then the checkpoint). A session returns only
after its last commit finished or was abandoned whole, so nothing of one session runs beside the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from rstream import exceptions as rexc

from azaion_shared.health import Health
from azaion_shared.settings import RabbitSettings
from ingestor.apply import Applier
from ingestor.checkpoint import Checkpoint
from ingestor.commit import Committer, cause
from ingestor.errors import FatalConfigError
from ingestor.metrics import Metrics
from ingestor.session import StreamSession, stream_end
from ingestor.settings import IngestorOptions
from ingestor.tasks import TaskPublisher

log = logging.getLogger(__name__)

#: A session counts as healthy (and the back-off starts over) once subscribed and delivering, or
#: subscribed this many seconds on an idle stream.
HEALTHY_AFTER = 5.0
#: While waiting to reconnect, probe the broker's port this often (seconds).
PROBE_INTERVAL = 0.4

_FATAL = (
    rexc.AuthenticationFailure,
    rexc.SASLAuthenticationFailureLoopback,
    rexc.VirtualHostAccessFailure,
    rexc.SASLMechanismNotSupported,
    rexc.AccessRefused,
)


class IngestorService:
    def __init__(
        self,
        rabbit: RabbitSettings,
        options: IngestorOptions,
        applier: Applier,
        checkpoint: Checkpoint,
        publisher: TaskPublisher,
        metrics: Metrics | None = None,
        health: Health | None = None,
    ):
        self.rabbit = rabbit
        self.options = options
        self.publisher = publisher
        self.metrics = metrics or Metrics()
        self.health = health or Health(stale_after=max(60.0, 3 * options.watchdog_seconds))
        self.committer = Committer(options, applier, checkpoint, publisher, self.metrics, self.health)
        self.session: StreamSession | None = None  # the current one, or the last

    @property
    def committed(self) -> int | None:
        """The last offset whose effects are durable."""
        return self.committer.committed

    # --- supervisor -----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Run sessions until ``stop`` is set; only configuration errors escape."""
        delay = self.options.backoff_initial
        beat = asyncio.create_task(self._beat(stop))
        lag = asyncio.create_task(self._lag_probe(stop)) if self.options.lag_probe_seconds > 0 else None
        lost_at: float | None = None
        try:
            while not stop.is_set():
                self.session = StreamSession(self.rabbit, self.options, self.committer, self.metrics, self.health)
                try:
                    await self.session.run(stop, lost_at)
                except FatalConfigError:
                    raise
                except _FATAL as exc:
                    raise FatalConfigError(
                        f"the broker at {self.rabbit.host}:{self.rabbit.stream_port} refused us "
                        f"({type(exc).__name__}): check AZAION_RABBIT__USER, AZAION_RABBIT__PASSWORD and "
                        "AZAION_RABBIT__VHOST"
                    ) from exc
                except Exception as exc:
                    self.metrics.reconnects.inc()
                    if self.session.subscribed_at is not None:  # it was up: say so once, with the cause
                        lost_at = time.monotonic()
                        log.warning(
                            "lost the stream at %s:%d: %s; reconnecting from offset %s",
                            self.rabbit.host,
                            self.rabbit.stream_port,
                            cause(exc),
                            "the first" if self.committed is None else self.committed + 1,
                        )
                    else:
                        log.info("could not start a session: %s", cause(exc))
                finally:
                    self.metrics.connected.set(0)
                if stop.is_set():
                    break
                if self._was_healthy():
                    delay = self.options.backoff_initial
                wait = delay * random.uniform(0.5, 1.0)
                self.health.beat(f"reconnecting in {wait:.1f} s")
                log.debug("next attempt in at most %.1f s", wait)
                await self._wait_to_reconnect(wait, stop)
                delay = min(delay * 2, self.options.backoff_max)
        finally:
            for task in (beat, lag):
                if task is not None:
                    task.cancel()
            await self.publisher.close()

    def _was_healthy(self) -> bool:
        """Subscribed, and receiving (a delivery, or subscribed for HEALTHY_AFTER s on an idle stream)."""
        session = self.session
        if session is None or session.subscribed_at is None:
            return False
        return session.delivered or time.monotonic() - session.subscribed_at >= HEALTHY_AFTER

    async def _wait_to_reconnect(self, wait: float, stop: asyncio.Event) -> None:
        """Wait ``wait`` seconds, or less: a broker seen unreachable that accepts connections again is
        tried at once (probes are plain TCP connects, a few a second, only while we wait)."""
        deadline = time.monotonic() + wait
        was_down = False
        while not stop.is_set():
            up = await self._reachable()
            if up and was_down:
                log.info("the broker at %s:%d answers again", self.rabbit.host, self.rabbit.stream_port)
                return
            was_down = was_down or not up
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(remaining, PROBE_INTERVAL * random.uniform(0.8, 1.2)))

    async def _reachable(self) -> bool:
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.rabbit.host, self.rabbit.stream_port), PROBE_INTERVAL
            )
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return True

    async def _beat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.health.beat()
            await asyncio.sleep(2)

    # --- lag ------------------------------------------------------------------------------
    async def _lag_probe(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                end = await self.stream_end()
                if end is not None:
                    self.metrics.lag.set(max(0, end[0] - (self.committed if self.committed is not None else -1)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.lag_probe_seconds)

    async def stream_end(self) -> tuple[int, int] | None:
        """(offset, chunk timestamp) of the stream's last message; None for an empty stream."""
        return await stream_end(self.rabbit)
