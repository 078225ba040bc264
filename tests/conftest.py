"""Fixtures shared by the cross-service tests: where the broker that `make test` started listens."""

from __future__ import annotations

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
def stream_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
