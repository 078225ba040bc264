"""One replica: consume tasks with manual acks and a prefetch, reconcile data/ on a timer.

A task is acked only after the process pool has written the outputs and the
completion marker (each file fsynced), so a replica killed mid-image leaves
the task unacked; the broker hands it to another replica, or to this one when
it comes back, and the lock plus the marker make the retry finish the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures.process import BrokenProcessPool

from augmentor.metrics import Metrics
from augmentor.pool import make_pool, work
from augmentor.processor import Processor
from augmentor.settings import AugmentorOptions
from azaion_shared.atomic import DEFAULT_TEMP_MAX_AGE, clean_temp_files
from azaion_shared.errors import MessageDecodeError
from azaion_shared.health import Health
from azaion_shared.paths import DataRoot
from azaion_shared.settings import RabbitSettings
from azaion_shared.tasks import AugmentTask, decode_task, encode_task

log = logging.getLogger(__name__)

#: Seconds between reconnection attempts after the broker connection is lost.
RECONNECT_INTERVAL = 1.0


class AugmentorService:
    def __init__(
        self,
        rabbit: RabbitSettings,
        options: AugmentorOptions,
        root: DataRoot,
        metrics: Metrics | None = None,
        health: Health | None = None,
        temp_max_age: float = DEFAULT_TEMP_MAX_AGE,
    ):
        self.rabbit = rabbit
        self.temp_max_age = temp_max_age
        self.options = options
        self.root = root
        self.metrics = metrics or Metrics()
        self.health = health or Health(stale_after=120)
        self.scanner = Processor(root, options).ensure()  # this process only reads state with it
        self.pool = None
        self._lost_at: float | None = None  # when the broker connection was lost, until it is back

    async def run(self, stop: asyncio.Event) -> None:
        import aio_pika

        self.pool = make_pool(self.root.root, self.options)
        connection = await aio_pika.connect_robust(
            self.rabbit.amqp_url(), timeout=30, reconnect_interval=RECONNECT_INTERVAL
        )
        connection.close_callbacks.add(self._on_connection_lost)
        connection.reconnect_callbacks.add(self._on_reconnected)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.options.prefetch or 2 * self.options.workers)
            queue = await channel.declare_queue(self.options.task_queue, durable=True)
            publish_channel = await connection.channel(publisher_confirms=True)
            tag = await queue.consume(self._on_message)
            log.info("consuming %s with %d workers", self.options.task_queue, self.options.workers)
            reconciler = asyncio.create_task(self._reconcile_loop(publish_channel, stop))
            beat = asyncio.create_task(self._beat(channel, stop))
            await stop.wait()
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
            for task in (reconciler, beat):
                task.cancel()
        finally:
            with contextlib.suppress(Exception):
                await connection.close()
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _on_connection_lost(self, _connection, exc: BaseException | None) -> None:
        """One line per outage (aio_pika retries by itself; its own records stay at DEBUG)."""
        if exc is None or self._lost_at is not None:  # closed by us, or already reported
            return
        self._lost_at = time.monotonic()
        self.health.beat("reconnecting")
        log.warning(
            "lost the connection to the broker at %s:%d (%s: %s); unacked tasks return to the queue, "
            "reconnecting every %.0f s",
            self.rabbit.host,
            self.rabbit.port,
            type(exc).__name__,
            exc,
            RECONNECT_INTERVAL,
        )

    def _on_reconnected(self, _connection) -> None:
        lost_at, self._lost_at = self._lost_at, None
        away = f" after {time.monotonic() - lost_at:.1f} s" if lost_at is not None else ""
        log.info("reconnected to the broker at %s:%d%s; consuming again", self.rabbit.host, self.rabbit.port, away)

    async def _on_message(self, message) -> None:
        try:
            task = decode_task(message.body)
        except MessageDecodeError as exc:
            log.error("dropping a malformed task: %s", exc)
            await message.reject(requeue=False)
            return
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.pool, work, task.name)
        except BrokenProcessPool:
            log.error("the process pool died (a worker was killed?); restarting it")
            await message.nack(requeue=True)
            self.pool = make_pool(self.root.root, self.options)
            return
        except TimeoutError as exc:  # another replica holds the image: try again later
            log.warning("%s: %s", task.name, exc)
            await message.nack(requeue=True)
            return
        except Exception:  # not retried in a loop: the next reconciliation enqueues it again
            log.exception("%s: %s failed", task.name, task.action)
            self.metrics.failed.inc()
            await message.reject(requeue=False)
            return
        self.metrics.results.labels(result.status).inc()
        if result.status == "failed":
            self.metrics.failed.inc()
        if result.status == "processed":
            self.metrics.seconds.observe(result.seconds)
            log.info(
                "processed %s: %d variants in %.2f s",
                task.name,
                result.variants,
                result.seconds,
                extra={"image": task.name, "variants": result.variants},
            )
        elif result.status in ("removed", "failed"):
            log.info("%s %s %s", result.status, task.name, result.reason)
        await message.ack()  # only now: the outputs and their marker are durable
        self.health.beat()

    async def _beat(self, channel, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                declared = await channel.declare_queue(self.options.task_queue, durable=True, passive=True)
                self.metrics.queue_depth.set(declared.declaration_result.message_count or 0)
                self.health.beat("consuming")
            await asyncio.sleep(5)

    async def _reconcile_loop(self, channel, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                count = await self.reconcile(channel)
                if count:
                    log.info("reconciliation enqueued %d images", count)
            except Exception as exc:
                log.warning("reconciliation failed: %s", exc)
            if self.options.reconcile_minutes <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.reconcile_minutes * 60)

    async def reconcile(self, channel) -> int:
        """Enqueue every name whose outputs are missing, stale, or left over from a deleted source; remove
        the temporary files that crashed writers left (never those of a replica still writing them)."""
        cleaned = await asyncio.to_thread(clean_temp_files, self.root.processed.path, True, self.temp_max_age)
        if cleaned.removed or cleaned.kept:
            log.info("data-processed/: %s", cleaned)
        names = await asyncio.to_thread(self._names_needing_work)
        import aio_pika

        for name, action in names:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    encode_task(AugmentTask(name=name, action=action)), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                ),
                routing_key=self.options.task_queue,
            )
        self.metrics.enqueued.inc(len(names))
        return len(names)

    def _names_needing_work(self) -> list[tuple[str, str]]:
        work_list = [(name, "upsert") for name in self.root.data.names() if self.scanner.needs_work(name)]
        for name in self.root.processed.marker_names():
            if not self.root.data.image(name).exists():
                work_list.append((name, "delete"))
        return work_list
