"""Sending annotation messages to the stream in the wire format (operators, tests, the demo)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from rstream import AMQPMessage, Producer
from rstream import exceptions as rexc

from azaion_shared.labels import read_labels
from azaion_shared.messages import (
    Annotation,
    AnnotationStatus,
    BulkAction,
    Detection,
    Message,
    application_properties,
    encode_body,
)
from azaion_shared.settings import RabbitSettings


def to_amqp(message: Message) -> AMQPMessage:
    return AMQPMessage(body=encode_body(message), application_properties=application_properties(message))


def producer(rabbit: RabbitSettings) -> Producer:
    return Producer(**rabbit.stream_connection())


async def publish_raw(rabbit: RabbitSettings, messages: Iterable[AMQPMessage], batch: int = 50) -> int:
    """Send messages in order, each batch confirmed by the broker; returns how many were sent."""
    sent = 0
    async with producer(rabbit) as prod:
        await _ensure_stream(prod, rabbit.stream)
        pending: list[AMQPMessage] = []
        for message in messages:
            pending.append(message)
            if len(pending) >= batch:
                sent += await _send(prod, rabbit.stream, pending)
                pending = []
        if pending:
            sent += await _send(prod, rabbit.stream, pending)
    return sent


async def _ensure_stream(prod: Producer, stream: str, attempts: int = 30) -> None:
    """Create the stream if needed; right after a broker restart its leader may not be elected yet."""
    for attempt in range(attempts):
        try:
            await prod.create_stream(stream, exists_ok=True)
            return
        except (rexc.InternalError, rexc.StreamNotAvailable, rexc.LeaderNotAvailable):
            if attempt + 1 == attempts:
                raise
            await asyncio.sleep(1)


async def _send(prod: Producer, stream: str, messages: list[AMQPMessage]) -> int:
    confirmed = asyncio.get_running_loop().create_future()
    remaining = len(messages)

    def on_confirm(status) -> None:
        nonlocal remaining
        if not status.is_confirmed and not confirmed.done():
            confirmed.set_exception(RuntimeError(f"the broker refused a message (code {status.response_code})"))
        remaining -= 1
        if remaining == 0 and not confirmed.done():
            confirmed.set_result(None)

    await prod.send_batch(stream, messages, on_publish_confirm=on_confirm)
    await asyncio.wait_for(confirmed, timeout=60)
    return len(messages)


def publish_messages(rabbit: RabbitSettings, messages: Iterable[Message]) -> int:
    return asyncio.run(publish_raw(rabbit, (to_amqp(m) for m in messages)))


def label_for(image: Path, labels_dir: Path | None) -> Path | None:
    """Where an image's YOLO label is: --labels-dir, a sibling labels/ folder, or beside the image."""
    candidates = []
    if labels_dir is not None:
        candidates.append(labels_dir / f"{image.stem}.txt")
    if image.parent.name == "images":
        candidates.append(image.parent.parent / "labels" / f"{image.stem}.txt")
    candidates.append(image.with_suffix(".txt"))
    return next((c for c in candidates if c.exists()), None)


def annotation_from_files(
    image: Path, status: AnnotationStatus, role: str, labels_dir: Path | None = None, name: str | None = None
) -> Annotation:
    label = label_for(image, labels_dir)
    boxes = read_labels(label) if label is not None else []
    detections = tuple(
        Detection(class_num=b.class_id, center_x=b.cx, center_y=b.cy, width=b.w, height=b.h) for b in boxes
    )
    return Annotation(
        status=status, name=name or image.stem, image=image.read_bytes(), detections=detections, role=role
    )


def bulk(status: AnnotationStatus, names: list[str]) -> BulkAction:
    return BulkAction(status=status, names=tuple(names))
