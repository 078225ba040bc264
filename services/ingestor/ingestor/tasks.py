"""Publishing augment tasks, behind a small interface (the augmentor consumes them)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from azaion_shared.settings import RabbitSettings
from azaion_shared.tasks import AugmentTask, encode_task
from ingestor.errors import FatalConfigError

log = logging.getLogger(__name__)


class TaskPublisher(Protocol):
    async def publish(self, tasks: list[AugmentTask]) -> None:
        """Publish durably (confirmed by the broker) or raise."""

    async def close(self) -> None: ...


class NoTasks:
    """When the augmentor is not used: tasks are dropped (AZAION_INGESTOR__TASKS=false)."""

    async def publish(self, tasks: list[AugmentTask]) -> None:
        return None

    async def close(self) -> None:
        return None


class AmqpTaskPublisher:
    """Persistent messages on a durable queue, each confirmed by the broker before we go on."""

    def __init__(self, rabbit: RabbitSettings, queue: str, timeout: float = 30.0):
        self._rabbit = rabbit
        self._queue = queue
        self._timeout = timeout
        self._connection = None
        self._channel = None

    async def _ensure(self):
        import aio_pika
        from aiormq.exceptions import AuthenticationError, ProbableAuthenticationError

        if self._channel is None or self._channel.is_closed or self._connection.is_closed:
            await self.close()
            try:
                self._connection = await aio_pika.connect(self._rabbit.amqp_url(), timeout=15)
            except (AuthenticationError, ProbableAuthenticationError) as exc:
                raise FatalConfigError(
                    f"RabbitMQ refused the credentials of AZAION_RABBIT__USER={self._rabbit.user!r} "
                    f"on {self._rabbit.host}:{self._rabbit.port}: {exc}"
                ) from exc
            self._channel = await self._connection.channel(publisher_confirms=True)
            await self._channel.declare_queue(self._queue, durable=True)
        return self._channel

    async def publish(self, tasks: list[AugmentTask]) -> None:
        if not tasks:
            return
        try:
            channel = await asyncio.wait_for(self._ensure(), self._timeout)
            # All in flight at once, each awaiting its confirm; a dead connection must not hang us.
            await asyncio.wait_for(self._publish_all(channel, tasks), self._timeout)
        except Exception:
            await self.close()  # a fresh connection next time
            raise

    async def _publish_all(self, channel, tasks: list[AugmentTask]) -> None:
        import aio_pika

        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(
                        encode_task(task),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        content_type="application/json",
                    ),
                    routing_key=self._queue,
                )
                for task in tasks
            )
        )

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except Exception as exc:  # closing a broken connection may fail; nothing to do about it
                log.debug("closing the task connection failed: %s", exc)
