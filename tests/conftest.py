"""Fixtures shared by the cross-service tests: where the broker that `make test` started listens."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import pytest

from azaion_shared.settings import RabbitSettings


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def rabbit() -> RabbitSettings:
    """The test broker; fails (not skips) with the way to start it when it is not there."""
    settings = RabbitSettings(
        host=os.environ.get("AZAION_RABBIT__HOST", "localhost"),
        port=int(os.environ.get("AZAION_RABBIT__PORT", "5672")),
        stream_port=int(os.environ.get("AZAION_RABBIT__STREAM_PORT", "5552")),
    )
    if not _port_open(settings.host, settings.stream_port):
        pytest.fail(
            f"no RabbitMQ stream port at {settings.host}:{settings.stream_port}: "
            "run the suite with `make test` (it starts one) or `scripts/rabbitmq.sh start`"
        )
    return settings


@pytest.fixture
def stream_name(rabbit) -> str:
    """A fresh stream name; the stream and its task queue are deleted afterwards, so that the broker
    does not accumulate data (a broker restart recovers every stream and durable queue it holds)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    asyncio.run(_delete_stream_and_queue(rabbit, name))


async def _delete_stream_and_queue(rabbit: RabbitSettings, name: str) -> None:
    import aio_pika
    from rstream import Producer

    creds = dict(username=rabbit.user, password=rabbit.password.get_secret_value())
    try:
        async with Producer(rabbit.host, rabbit.stream_port, **creds) as producer:
            await producer.delete_stream(name, missing_ok=True)
        connection = await aio_pika.connect(rabbit.amqp_url(), timeout=10)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(f"{name}-tasks")
    except Exception as exc:  # clean-up only: a test that stopped the broker must not fail here
        print(f"clean-up of {name} failed: {exc}")
