"""The consuming loop and its supervisor.

rstream's own recovery is off: it gives up silently, may resubscribe at the
wrong offset and cancels callbacks mid-work (see ../shared/notes/rstream.md).
Instead each *session* creates a consumer, subscribes at checkpoint + 1 and
runs until the connection closes, the stream's metadata changes, or the
watchdog finds the broker silent; the supervisor then backs off (capped,
exponential, with jitter; back to the start as soon as a session is healthy,
and cut short the moment a broker that was unreachable answers again) and
starts a new session from the checkpoint.

Within a session the rstream callback only queues raw bytes; one processor task
applies them in batches: decode -> apply (files fsynced) -> fsync folders, and
then *commits* each batch: publish its augment tasks (confirmed) -> write the
checkpoint. A commit runs as a task of its own that nothing cancels half-way.
When a session ends (a stop, a lost connection, a lost broker) it waits for
the commit in progress; if that commit failed, every later batch is abandoned
whole (its checkpoint does not move, so the next session applies it again,
idempotently, and publishes its tasks then); otherwise the batch already
applied is committed too. Only then does the session return, so nothing of one
session runs beside the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass

from rstream import Consumer, ConsumerOffsetSpecification, OffsetType
from rstream import exceptions as rexc

from azaion_shared.health import Health
from azaion_shared.settings import RabbitSettings
from ingestor.apply import Applier
from ingestor.checkpoint import Checkpoint, Position
from ingestor.decode import decode_incoming
from ingestor.errors import FatalConfigError, SessionEnded
from ingestor.metrics import Metrics
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


@dataclass(frozen=True)
class Incoming:
    offset: int
    raw: bytes
    timestamp: int = 0


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
        self.applier = applier
        self.checkpoint = checkpoint
        self.publisher = publisher
        self.metrics = metrics or Metrics()
        self.health = health or Health(stale_after=max(60.0, 3 * options.watchdog_seconds))
        position = checkpoint.read()
        self.committed = position.offset  # last offset whose effects are durable
        self.committed_ts = position.timestamp
        self.epoch = position.epoch
        applier.epoch = position.epoch
        self._since_store = 0
        self._inflight: asyncio.Future | None = None
        self._subscribed_at: float | None = None  # when the current session subscribed
        self._delivered = False  # whether it has received a message
        if self.committed is not None:
            self.metrics.offset.set(self.committed)

    # --- supervisor -----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Run sessions until ``stop`` is set; only configuration errors escape."""
        delay = self.options.backoff_initial
        beat = asyncio.create_task(self._beat(stop))
        lag = asyncio.create_task(self._lag_probe(stop)) if self.options.lag_probe_seconds > 0 else None
        lost_at: float | None = None
        try:
            while not stop.is_set():
                self._subscribed_at = None
                self._delivered = False
                try:
                    await self._session(stop, lost_at)
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
                    if self._subscribed_at is not None:  # it was up: say so once, with the cause
                        lost_at = time.monotonic()
                        log.warning(
                            "lost the stream at %s:%d: %s; reconnecting from offset %s",
                            self.rabbit.host,
                            self.rabbit.stream_port,
                            _cause(exc),
                            _next(self.committed),
                        )
                    else:
                        log.info("could not start a session: %s", _cause(exc))
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
        if self._subscribed_at is None:
            return False
        return self._delivered or time.monotonic() - self._subscribed_at >= HEALTHY_AFTER

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

    # --- one session ----------------------------------------------------------------------
    def _consumer(self, on_close=None) -> Consumer:
        return Consumer(
            self.rabbit.host,
            self.rabbit.stream_port,
            username=self.rabbit.user,
            password=self.rabbit.password.get_secret_value(),
            vhost=self.rabbit.vhost,
            frame_max=self.rabbit.frame_max,
            heartbeat=20,
            on_close_handler=on_close,
            connection_name="azaion-ingestor",
            load_balancer_mode=self.rabbit.load_balancer,
        )

    async def _session(self, stop: asyncio.Event, lost_at: float | None = None) -> None:
        ended = asyncio.Event()
        reason: list[str] = []

        async def on_close(info) -> None:
            reason.append(f"{getattr(info, 'reason', info)} {getattr(info, 'streams', '')}".strip())
            ended.set()

        queue: asyncio.Queue[Incoming] = asyncio.Queue(maxsize=self.options.max_batch * 2)
        stream = self.rabbit.stream
        requested = _next(self.committed)
        first_seen: list[int] = []
        self.last_delivery = self.last_progress = time.monotonic()

        async def on_message(raw: bytes, ctx) -> None:
            try:  # nothing may escape into rstream: it would drop the rest of the chunk
                self.last_delivery = time.monotonic()
                self._delivered = True
                if not first_seen:
                    first_seen.append(ctx.offset)
                    if requested is not None and ctx.offset > requested + self.options.store_offset_every + 10:
                        log.error(
                            "asked for offset %d but the stream starts at %d: retention removed messages that "
                            "were never applied",
                            requested,
                            ctx.offset,
                        )
                if self.committed is not None and ctx.offset <= self.committed:
                    return
                await queue.put(Incoming(ctx.offset, bytes(raw), ctx.timestamp))
            except Exception:
                log.exception("could not queue the message at offset %s", getattr(ctx, "offset", "?"))
                ended.set()

        consumer = self._consumer(on_close)
        processor = None
        watchdog = None
        try:
            await asyncio.wait_for(consumer.start(), 30)
            await asyncio.wait_for(consumer.create_stream(stream, exists_ok=True), 30)
            spec = (
                ConsumerOffsetSpecification(OffsetType.FIRST, None)
                if requested is None
                else ConsumerOffsetSpecification(OffsetType.OFFSET, requested)
            )
            await asyncio.wait_for(
                consumer.subscribe(
                    stream,
                    on_message,
                    offset_specification=spec,
                    initial_credit=self.options.initial_credit,
                    subscriber_name=self.options.consumer_name,
                ),
                30,
            )
            self._subscribed_at = time.monotonic()
            self.metrics.connected.set(1)
            self.health.beat("consuming")
            log.info(
                "subscribed to %s at %s%s",
                stream,
                "the first offset" if requested is None else requested,
                "" if lost_at is None else f" (reconnected {time.monotonic() - lost_at:.1f} s after the loss)",
            )
            processor = asyncio.create_task(self._process(queue, consumer, stream))
            watchdog = asyncio.create_task(self._watchdog(consumer, stream, queue))
            stopper = asyncio.create_task(stop.wait())
            closer = asyncio.create_task(ended.wait())
            done, _ = await asyncio.wait({processor, watchdog, stopper, closer}, return_when=asyncio.FIRST_COMPLETED)
            for task in (stopper, closer):
                task.cancel()
            for task in done:
                if task in (processor, watchdog) and task.exception() is not None:
                    raise task.exception()
            if closer in done:
                raise SessionEnded(f"connection closed: {'; '.join(reason) or 'no reason given'}")
        finally:
            tasks = {task for task in (processor, watchdog) if task is not None}
            for task in tasks:
                task.cancel()
            if tasks:  # the processor's drain commits or abandons its batches before we go on
                await asyncio.wait(tasks)
            await self._finish_inflight()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.close(), 10)

    async def _finish_inflight(self) -> None:
        """Wait for a batch whose thread is still writing, so that sessions never overlap."""
        if self._inflight is not None and not self._inflight.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._inflight), 120)

    async def _watchdog(self, consumer: Consumer, stream: str, queue: asyncio.Queue) -> None:
        timeout = self.options.watchdog_seconds
        while True:
            await asyncio.sleep(min(5.0, timeout / 3))
            stalled = time.monotonic() - self.last_progress
            if not queue.empty() and stalled > 2 * timeout:  # messages wait, yet nothing commits
                raise SessionEnded(f"watchdog: no batch committed for {stalled:.0f} s while messages wait")
            if time.monotonic() - self.last_delivery < timeout:
                continue
            try:  # silent: is the broker still there, and the stream?
                exists = await asyncio.wait_for(consumer.stream_exists(stream), timeout=10)
            except Exception as exc:
                raise SessionEnded(
                    f"watchdog: no delivery for {timeout:.0f} s and the broker does not answer ({exc})"
                ) from exc
            if not exists:
                raise SessionEnded(f"watchdog: stream {stream} no longer exists")
            try:
                end = await asyncio.wait_for(self.stream_end(), timeout=15)
            except Exception as exc:
                log.info("watchdog: could not read the stream's end: %s", exc)
                end = None
            committed = self.committed if self.committed is not None else -1
            log.info("watchdog: idle for %.0f s; stream end %s, checkpoint %s", timeout, end, committed)
            if end is not None and queue.empty():
                end_offset, end_ts = end
                if end_offset > committed:  # seen after a broker restart: a subscription never served
                    raise SessionEnded(
                        f"watchdog: the stream holds offset {end_offset} but nothing after {committed} arrived "
                        f"for {timeout:.0f} s"
                    )
                if self.committed_ts is not None and end_ts > self.committed_ts:
                    await self._new_epoch(end_offset, end_ts)
                    raise SessionEnded("the stream was rewritten: starting over from its first offset")
            self.last_delivery = time.monotonic()  # an idle stream, a healthy broker

    async def _new_epoch(self, end_offset: int, end_ts: int) -> None:
        """The stream's end is at or before our checkpoint yet newer than it: its offsets started over."""
        log.error(
            "the stream %s was rewritten: its last message (offset %d, written at %d) is newer than the one we "
            "applied last (offset %s, written at %s). It was deleted and recreated, or the broker lost data. "
            "Starting epoch %d from its first offset; files of older epochs count as older than any new message.",
            self.rabbit.stream,
            end_offset,
            end_ts,
            self.committed,
            self.committed_ts,
            self.epoch + 1,
        )
        self.epoch += 1
        self.applier.epoch = self.epoch
        self.committed, self.committed_ts = None, None
        await asyncio.to_thread(self.checkpoint.write, Position(None, None, self.epoch))

    async def _process(self, queue: asyncio.Queue, consumer: Consumer, stream: str) -> None:
        """Apply batch N in a thread while batch N-1 commits (its tasks published, then its checkpoint)."""
        committing: asyncio.Task | None = None  # the commit of the last batch applied; never cancelled
        applying: tuple[list[Incoming], float] | None = None  # a batch being applied, not yet committing
        try:
            while True:
                batch = [await queue.get()]
                while len(batch) < self.options.max_batch and not queue.empty():
                    batch.append(queue.get_nowait())
                started = time.perf_counter()
                self._inflight = asyncio.ensure_future(asyncio.to_thread(self._decode_and_apply, batch))
                applying = (batch, started)
                if committing is not None:
                    await asyncio.shield(committing)  # N-1 is committed before N can be; raises if it failed
                outcome = await asyncio.shield(self._inflight)
                committing = asyncio.create_task(self._commit(batch, outcome, started, consumer, stream))
                applying = None
        finally:
            await self._drain(committing, applying, consumer, stream)

    async def _drain(self, committing, applying, consumer: Consumer, stream: str) -> None:
        """When the session ends: wait for the commit in progress (bounded by the publisher's timeouts);
        then commit the batch already applied, or abandon it whole if the commit before it failed. An
        abandoned batch keeps the checkpoint before it and is applied again, tasks and all, next time."""
        try:
            if committing is not None:
                await asyncio.shield(committing)
            if applying is not None and self._inflight is not None:
                outcome = await asyncio.shield(self._inflight)
                await asyncio.shield(
                    asyncio.ensure_future(self._commit(applying[0], outcome, applying[1], consumer, stream))
                )
        except asyncio.CancelledError:
            log.warning("the session was cancelled while committing; what it did not commit is applied again")
            raise
        except Exception as exc:
            log.warning(
                "a batch could not be committed (%s); the checkpoint stays at %s and the rest is applied again",
                _cause(exc),
                self.committed,
            )

    def _decode_and_apply(self, batch: list[Incoming]):
        """In a worker thread: the event loop stays free for the stream (and its heartbeats)."""
        return self.applier.apply_batch([decode_incoming(item.offset, item.raw) for item in batch])

    async def _commit(self, batch: list[Incoming], outcome, started: float, consumer: Consumer, stream: str) -> None:
        await self.publisher.publish(outcome.tasks)  # only after the files are durable
        last = batch[-1].offset
        await asyncio.to_thread(self.checkpoint.write, Position(last, batch[-1].timestamp, self.epoch))
        self.committed, self.committed_ts = last, batch[-1].timestamp
        self.last_progress = time.monotonic()
        for status, count in outcome.by_status.items():
            self.metrics.applied.labels(status).inc(count)
        self.metrics.rejected.inc(outcome.rejected)
        self.metrics.offset.set(last)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.health.beat()
        self._since_store += len(batch)
        if self._since_store >= self.options.store_offset_every:
            self._since_store = 0
            try:  # visibility for operators only; the file is the source of truth
                await asyncio.wait_for(consumer.store_offset(stream, self.options.consumer_name, last), 5)
            except Exception as exc:
                log.info("could not store the offset on the broker: %s", exc)

    # --- lag ------------------------------------------------------------------------------
    async def _lag_probe(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                end = await self.stream_end()
                if end is not None:
                    self.metrics.lag.set(max(0, end[0] - (self.committed if self.committed is not None else -1)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.lag_probe_seconds)

    async def stream_end(self, wait: float = 1.0) -> tuple[int, int] | None:
        """(offset, chunk timestamp) of the stream's last message (a short-lived consumer reads the last chunk)."""
        last: list[tuple[int, int]] = []

        async def on_message(raw: bytes, ctx) -> None:
            last.append((ctx.offset, ctx.timestamp))

        consumer = self._consumer()
        try:
            await asyncio.wait_for(consumer.start(), 10)
            await consumer.subscribe(
                self.rabbit.stream,
                on_message,
                offset_specification=ConsumerOffsetSpecification(OffsetType.LAST, None),
                initial_credit=1,
            )
            await asyncio.sleep(wait)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.close(), 5)
        return max(last) if last else None


def _cause(exc: BaseException) -> str:
    """One line: the error's type and message, and its cause's when it wraps one."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    inner = exc.__cause__ or exc.__context__
    if inner is not None and str(inner) and str(inner) not in text:
        text += f" ({type(inner).__name__}: {inner})"
    return text


def _next(committed: int | None) -> int | None:
    return None if committed is None else committed + 1
