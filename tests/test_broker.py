"""The broker `make test` starts speaks the stream protocol and takes image-sized messages."""

from __future__ import annotations

import asyncio
import os

import pytest
from rstream import AMQPMessage, Consumer, ConsumerOffsetSpecification, OffsetType, Producer, amqp_decoder

from azaion_shared.messages import (
    Annotation,
    Detection,
    application_properties,
    decode_message,
    encode_body,
    status_from_properties,
)

pytestmark = pytest.mark.broker


async def _round_trip(rabbit, stream: str, message: Annotation) -> tuple[Annotation, int]:
    creds = dict(username=rabbit.user, password=rabbit.password.get_secret_value(), frame_max=rabbit.frame_max)
    async with Producer(rabbit.host, rabbit.stream_port, **creds) as producer:
        await producer.create_stream(stream, exists_ok=True)
        try:
            amqp = AMQPMessage(body=encode_body(message), application_properties=application_properties(message))
            await producer.send_wait(stream, amqp)
            received: asyncio.Queue = asyncio.Queue()
            async with Consumer(rabbit.host, rabbit.stream_port, **creds) as consumer:

                async def on_message(raw: bytes, ctx) -> None:
                    received.put_nowait((raw, ctx.offset))

                await consumer.start()
                await consumer.subscribe(
                    stream, on_message, offset_specification=ConsumerOffsetSpecification(OffsetType.FIRST, None)
                )
                raw, offset = await asyncio.wait_for(received.get(), timeout=30)
            envelope = amqp_decoder(raw)
            status = status_from_properties(envelope.application_properties)
            return decode_message(envelope.body, status), offset
        finally:
            await producer.delete_stream(stream, missing_ok=True)


def test_stream_round_trip_of_a_several_mb_message(rabbit, stream_name):
    image = os.urandom(3 * 1024 * 1024)  # over the broker's default 1 MiB frame limit
    detections = (Detection(class_num=0, center_x=0.5, center_y=0.5, width=0.1, height=0.1),)
    message = Annotation(name="big-1", image=image, detections=detections, role="Operator")
    decoded, offset = asyncio.run(_round_trip(rabbit, stream_name, message))
    assert decoded == message
    assert offset == 0
