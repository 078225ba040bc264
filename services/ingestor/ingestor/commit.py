"""The batch commit: apply a batch of stream messages to disk in a worker thread, then commit it (its
augment tasks published and confirmed, then the checkpoint written), one batch applying while the one
before it commits. The position this keeps (the last offset whose effects are durable, its chunk
timestamp, the epoch) is the ingestor's promise: a batch is on disk before its offset moves.

A commit runs as a task of its own that nothing cancels half-way. When a session ends the committer
waits for the commit in progress; if that commit failed, every later batch is abandoned whole (its
checkpoint does not move, so the next session applies it again, idempotently, and publishes its tasks
then); otherwise the batch already applied is committed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from azaion_shared.health import Health
from ingestor.apply import Applier
from ingestor.checkpoint import Checkpoint, Position
from ingestor.decode import decode_incoming
from ingestor.metrics import Metrics
from ingestor.settings import IngestorOptions
from ingestor.tasks import TaskPublisher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    offset: int
    raw: bytes
    timestamp: int = 0


class Committer:
    """Applies and commits batches, and owns the committed position (``committed``, ``committed_ts``,
    ``epoch``): read from the checkpoint at start, moved only by a commit or a new epoch."""

    def __init__(
        self,
        options: IngestorOptions,
        applier: Applier,
        checkpoint: Checkpoint,
        publisher: TaskPublisher,
        metrics: Metrics,
        health: Health,
    ):
        self.options, self.applier, self.checkpoint, self.publisher = options, applier, checkpoint, publisher
        self.metrics, self.health = metrics, health
        position = checkpoint.read()
        self.committed = position.offset  # last offset whose effects are durable
        self.committed_ts = position.timestamp
        self.epoch = position.epoch
        applier.epoch = position.epoch
        self.last_progress = time.monotonic()
        self._since_store = 0
        self.inflight: asyncio.Future | None = None
        if self.committed is not None:
            self.metrics.offset.set(self.committed)

    async def process(self, queue: asyncio.Queue, consumer, stream: str) -> None:
        """Apply batch N in a thread while batch N-1 commits (its tasks published, then its checkpoint)."""
        committing: asyncio.Task | None = None  # the commit of the last batch applied; never cancelled
        applying: tuple[list[Incoming], float] | None = None  # a batch being applied, not yet committing
        try:
            while True:
                batch = [await queue.get()]
                while len(batch) < self.options.max_batch and not queue.empty():
                    batch.append(queue.get_nowait())
                started = time.perf_counter()
                self.inflight = asyncio.ensure_future(asyncio.to_thread(self._decode_and_apply, batch))
                applying = (batch, started)
                if committing is not None:
                    await asyncio.shield(committing)  # N-1 is committed before N can be; raises if it failed
                outcome = await asyncio.shield(self.inflight)
                committing = asyncio.create_task(self._commit(batch, outcome, started, consumer, stream))
                applying = None
        finally:
            await self._drain(committing, applying, consumer, stream)

    async def _drain(self, committing, applying, consumer, stream: str) -> None:
        """When the session ends: wait for the commit in progress (bounded by the publisher's timeouts);
        then commit the batch already applied, or abandon it whole if the commit before it failed. An
        abandoned batch keeps the checkpoint before it and is applied again, tasks and all, next time."""
        try:
            if committing is not None:
                await asyncio.shield(committing)
            if applying is not None and self.inflight is not None:
                outcome = await asyncio.shield(self.inflight)
                await asyncio.shield(
                    asyncio.ensure_future(self._commit(applying[0], outcome, applying[1], consumer, stream))
                )
        except asyncio.CancelledError:
            log.warning("the session was cancelled while committing; what it did not commit is applied again")
            raise
        except Exception as exc:
            log.warning(
                "a batch could not be committed (%s); the checkpoint stays at %s and the rest is applied again",
                cause(exc),
                self.committed,
            )

    async def finish_inflight(self) -> None:
        """Wait for a batch whose thread is still writing, so that sessions never overlap."""
        if self.inflight is not None and not self.inflight.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.inflight), 120)

    def _decode_and_apply(self, batch: list[Incoming]):
        """In a worker thread: the event loop stays free for the stream (and its heartbeats)."""
        return self.applier.apply_batch([decode_incoming(item.offset, item.raw) for item in batch])

    async def _commit(self, batch: list[Incoming], outcome, started: float, consumer, stream: str) -> None:
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

    async def new_epoch(self, stream: str, end: tuple[int, int] | None, why: str) -> None:
        """The stream's offsets started over (deleted and recreated, or a broker that lost its data): the
        next session reads it from its first offset, and files of older epochs count as older."""
        log.error(
            "the stream %s was rewritten: %s; the one we applied last is offset %s, written at %s. It was deleted "
            "and recreated, or the broker lost data. Starting epoch %d from its first offset; files of older "
            "epochs count as older than any new message.",
            stream,
            why if end is None else f"{why} (its last message: offset {end[0]}, written at {end[1]})",
            self.committed,
            self.committed_ts,
            self.epoch + 1,
        )
        self.epoch += 1
        self.applier.epoch = self.epoch
        self.committed, self.committed_ts = None, None
        await asyncio.to_thread(self.checkpoint.write, Position(None, None, self.epoch))


def cause(exc: BaseException) -> str:
    """One line: the error's type and message, and its cause's when it wraps one."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    inner = exc.__cause__ or exc.__context__
    if inner is not None and str(inner) and str(inner) not in text:
        text += f" ({type(inner).__name__}: {inner})"
    return text
