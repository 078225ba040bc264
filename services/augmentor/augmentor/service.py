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
from concurrent.futures.process import BrokenProcessPool

from augmentor.metrics import Metrics
from augmentor.pool import make_pool, work
from augmentor.processor import MARKERS, Processor
from augmentor.settings import AugmentorOptions
from azaion_shared.errors import MessageDecodeError
from azaion_shared.health import Health
from azaion_shared.paths import DataRoot
from azaion_shared.settings import RabbitSettings
from azaion_shared.tasks import AugmentTask, decode_task, encode_task

log = logging.getLogger(__name__)


class AugmentorService:
    def __init__(
        self,
        rabbit: RabbitSettings,
        options: AugmentorOptions,
        root: DataRoot,
        metrics: Metrics | None = None,
        health: Health | None = None,
    ):
        self.rabbit = rabbit
        self.options = options
        self.root = root
        self.metrics = metrics or Metrics()
        self.health = health or Health(stale_after=120)
        self.scanner = Processor(root, options).ensure()  # this process only reads state with it
        self.pool = None

    async def run(self, stop: asyncio.Event) -> None:
        import aio_pika

        self.pool = make_pool(self.root.root, self.options)
        connection = await aio_pika.connect_robust(self.rabbit.amqp_url(), timeout=30)
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
        """Enqueue every name whose outputs are missing, stale, or left over from a deleted source."""
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
        markers = self.root.processed.path / MARKERS
        if markers.is_dir():
            for marker in markers.glob("*.json"):
                name = marker.stem
                if not self.root.data.image(name).exists():
                    work_list.append((name, "delete"))
        return work_list
