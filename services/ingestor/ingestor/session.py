"""One session with the stream: a consumer subscribed at the checkpoint + 1, the committer applying what
it delivers, and a watchdog, until the connection closes, the stream changes or the broker falls silent.

Before subscribing, the session checks the stream against the checkpoint (:meth:`StreamSession.rewritten`):
a broker that came back with its state lost, or a stream deleted and recreated, holds offsets that started
over at 0, and a subscription at the old checkpoint + 1 would wait past the new stream's end while new
messages pile up below it. Such a stream starts a new epoch and is read from its first offset at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from rstream import Consumer, ConsumerOffsetSpecification, OffsetType

from azaion_shared.settings import RabbitSettings
from ingestor.commit import Committer, Incoming
from ingestor.errors import SessionEnded
from ingestor.settings import IngestorOptions

log = logging.getLogger(__name__)

#: how long a probe of the stream waits for the message it asked for (an empty stream sends none)
PROBE_SECONDS = 1.0


def make_consumer(rabbit: RabbitSettings, on_close=None) -> Consumer:
    return Consumer(
        **rabbit.stream_connection(),
        heartbeat=20,
        on_close_handler=on_close,
        connection_name="azaion-ingestor",
        load_balancer_mode=rabbit.load_balancer,
    )


async def probe(consumer: Consumer, stream: str, spec: ConsumerOffsetSpecification, wait: float = PROBE_SECONDS):
    """[(offset, chunk timestamp)] of the chunk a subscription at ``spec`` gets first, through ``consumer``
    (a subscription of its own, removed after); [] when none came within ``wait`` seconds (an empty
    stream, or an offset past its end)."""
    seen: list[tuple[int, int]] = []
    arrived = asyncio.Event()

    async def on_message(raw: bytes, ctx) -> None:
        seen.append((ctx.offset, ctx.timestamp))
        arrived.set()

    subscriber = await asyncio.wait_for(
        consumer.subscribe(stream, on_message, offset_specification=spec, initial_credit=1), 10
    )
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), wait)
        if seen:
            await asyncio.sleep(0.02)  # the rest of the chunk's messages, delivered together
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.unsubscribe(subscriber), 5)
    return list(seen)


async def stream_end(rabbit: RabbitSettings, wait: float = PROBE_SECONDS) -> tuple[int, int] | None:
    """(offset, chunk timestamp) of the stream's last message (a short-lived consumer of its own reads
    the last chunk); None for an empty stream."""
    consumer = make_consumer(rabbit)
    try:
        await asyncio.wait_for(consumer.start(), 10)
        seen = await probe(consumer, rabbit.stream, ConsumerOffsetSpecification(OffsetType.LAST, None), wait)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.close(), 5)
    return max(seen) if seen else None


class StreamSession:
    """One subscription, from its start to its end (an exception says why it ended)."""

    def __init__(self, rabbit: RabbitSettings, options: IngestorOptions, committer: Committer, metrics, health):
        self.rabbit, self.options, self.committer = rabbit, options, committer
        self.metrics, self.health = metrics, health
        self.subscribed_at: float | None = None  # when it subscribed
        self.delivered = False  # whether it has received a message
        self.last_delivery = time.monotonic()

    async def rewritten(self, consumer: Consumer) -> str | None:
        """Why the stream is not the one the checkpoint was taken from (None: it is, or there is no
        checkpoint): another message at the checkpoint's offset, or an end before it. Probed on the
        session's own connection: a message at the checkpoint's offset comes back at once."""
        committed, committed_ts = self.committer.committed, self.committer.committed_ts
        if committed is None:
            return None
        at = await probe(consumer, self.rabbit.stream, ConsumerOffsetSpecification(OffsetType.OFFSET, committed))
        if at:
            offset, written = at[0]
            if offset == committed and committed_ts is not None and written != committed_ts:
                return f"its message at offset {committed} was written at {written}, ours at {committed_ts}"
            return None  # the same stream (a first offset past ours: retention, said at subscription)
        end = await probe(consumer, self.rabbit.stream, ConsumerOffsetSpecification(OffsetType.LAST, None))
        if not end:
            return "it is empty"
        if max(end)[0] < committed:
            return f"it ends at offset {max(end)[0]}"
        return None

    async def run(self, stop: asyncio.Event, lost_at: float | None = None) -> None:
        ended = asyncio.Event()
        reason: list[str] = []

        async def on_close(info) -> None:
            reason.append(f"{getattr(info, 'reason', info)} {getattr(info, 'streams', '')}".strip())
            ended.set()

        queue: asyncio.Queue[Incoming] = asyncio.Queue(maxsize=self.options.max_batch * 2)
        consumer = make_consumer(self.rabbit, on_close)
        processor = watchdog = None
        try:
            await asyncio.wait_for(consumer.start(), 30)
            await asyncio.wait_for(consumer.create_stream(self.rabbit.stream, exists_ok=True), 30)
            why = await self.rewritten(consumer)
            if why is not None:
                await self.committer.new_epoch(self.rabbit.stream, None, why)
            requested = await self._subscribe(consumer, self._on_message(queue, ended))
            self._subscribed(requested, lost_at)
            processor = asyncio.create_task(self.committer.process(queue, consumer, self.rabbit.stream))
            watchdog = asyncio.create_task(self._watchdog(consumer, queue))
            await self._until_ended(stop, ended, reason, processor, watchdog)
        finally:
            tasks = {task for task in (processor, watchdog) if task is not None}
            for task in tasks:
                task.cancel()
            if tasks:  # the processor's drain commits or abandons its batches before we go on
                await asyncio.wait(tasks)
            await self.committer.finish_inflight()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.close(), 10)

    def _on_message(self, queue: asyncio.Queue, ended: asyncio.Event):
        committer, first_seen = self.committer, []
        requested = _next(committer.committed)

        async def on_message(raw: bytes, ctx) -> None:
            try:  # nothing may escape into rstream: it would drop the rest of the chunk
                self.last_delivery = time.monotonic()
                self.delivered = True
                if not first_seen:
                    first_seen.append(ctx.offset)
                    if requested is not None and ctx.offset > requested + self.options.store_offset_every + 10:
                        log.error(
                            "asked for offset %d but the stream starts at %d: retention removed messages that "
                            "were never applied",
                            requested,
                            ctx.offset,
                        )
                if committer.committed is not None and ctx.offset <= committer.committed:
                    return
                await queue.put(Incoming(ctx.offset, bytes(raw), ctx.timestamp))
            except Exception:
                log.exception("could not queue the message at offset %s", getattr(ctx, "offset", "?"))
                ended.set()

        return on_message

    async def _subscribe(self, consumer: Consumer, on_message) -> int | None:
        requested = _next(self.committer.committed)
        spec = (
            ConsumerOffsetSpecification(OffsetType.FIRST, None)
            if requested is None
            else ConsumerOffsetSpecification(OffsetType.OFFSET, requested)
        )
        await asyncio.wait_for(
            consumer.subscribe(
                self.rabbit.stream,
                on_message,
                offset_specification=spec,
                initial_credit=self.options.initial_credit,
                subscriber_name=self.options.consumer_name,
            ),
            30,
        )
        return requested

    def _subscribed(self, requested: int | None, lost_at: float | None) -> None:
        self.subscribed_at = time.monotonic()
        self.metrics.connected.set(1)
        self.health.beat("consuming")
        log.info(
            "subscribed to %s at %s%s",
            self.rabbit.stream,
            "the first offset" if requested is None else requested,
            "" if lost_at is None else f" (reconnected {time.monotonic() - lost_at:.1f} s after the loss)",
        )

    @staticmethod
    async def _until_ended(stop, ended, reason, processor, watchdog) -> None:
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

    async def _watchdog(self, consumer: Consumer, queue: asyncio.Queue) -> None:
        timeout, stream = self.options.watchdog_seconds, self.rabbit.stream
        while True:
            await asyncio.sleep(min(5.0, timeout / 3))
            stalled = time.monotonic() - self.committer.last_progress
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
            await self._check_end(queue, timeout)
            self.last_delivery = time.monotonic()  # an idle stream, a healthy broker

    async def _check_end(self, queue: asyncio.Queue, timeout: float) -> None:
        """An idle subscription: the stream's end must not be past the checkpoint, nor newer than it."""
        try:
            end = await asyncio.wait_for(stream_end(self.rabbit), timeout=15)
        except Exception as exc:
            log.info("watchdog: could not read the stream's end: %s", exc)
            return
        committer = self.committer
        committed = committer.committed if committer.committed is not None else -1
        log.info("watchdog: idle for %.0f s; stream end %s, checkpoint %s", timeout, end, committed)
        if end is None or not queue.empty():
            return
        end_offset, end_ts = end
        if end_offset > committed:  # seen after a broker restart: a subscription never served
            raise SessionEnded(
                f"watchdog: the stream holds offset {end_offset} but nothing after {committed} arrived for "
                f"{timeout:.0f} s"
            )
        if committer.committed_ts is not None and end_ts > committer.committed_ts:
            await committer.new_epoch(self.rabbit.stream, end, "its last message is newer than ours")
            raise SessionEnded("the stream was rewritten: starting over from its first offset")


def _next(committed: int | None) -> int | None:
    return None if committed is None else committed + 1
