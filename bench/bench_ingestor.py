"""Ingestor throughput writing 100 KB images, next to a bare rstream consumer that only counts.

Both read the same stream of N Created messages (Validator role, so every one
also publishes an augment task) from the broker `make bench` starts. The
ingestor runs with durability on: every file fsynced, folders fsynced per
batch, tasks confirmed, offset.yaml written atomically per batch.
Goal (issue 3): ingestor >= 0.5 x the bare consumer's messages/s.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
import time
import uuid
from pathlib import Path

from common import Row

COUNT = int(os.environ.get("BENCH_INGESTOR_MESSAGES", "2000"))


def jpeg_of_about(size: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    for quality in range(95, 5, -5):
        out = io.BytesIO()
        Image.fromarray(base).save(out, "JPEG", quality=quality)
        if out.tell() <= size:
            return out.getvalue()
    return out.getvalue()


def rabbit(stream: str):
    from azaion_shared.settings import RabbitSettings

    return RabbitSettings(stream=stream)


async def bare_consumer(settings, count: int) -> tuple[float, int]:
    from rstream import Consumer, ConsumerOffsetSpecification, OffsetType

    seen = 0
    last = -1
    done = asyncio.Event()
    started = 0.0

    async def on_message(raw: bytes, ctx) -> None:
        nonlocal seen, last, started
        if seen == 0:
            started = time.perf_counter()
        seen += 1
        last = ctx.offset
        if seen == count:
            done.set()

    consumer = Consumer(
        settings.host, settings.stream_port, username="guest", password="guest", frame_max=settings.frame_max
    )
    await consumer.start()
    await consumer.subscribe(
        settings.stream, on_message, offset_specification=ConsumerOffsetSpecification(OffsetType.FIRST, None)
    )
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - started
    await consumer.close()
    return count / elapsed, last


async def ingestor_run(settings, root: Path, last_offset: int, image_check: str, tasks: bool = True) -> float:
    from azaion_shared.paths import DataRoot
    from ingestor.apply import Applier
    from ingestor.checkpoint import Checkpoint
    from ingestor.service import IngestorService
    from ingestor.settings import IngestorOptions
    from ingestor.tasks import AmqpTaskPublisher, NoTasks

    options = IngestorOptions(
        health_port=0, lag_probe_seconds=0, task_queue=f"bench-{uuid.uuid4().hex[:8]}", image_check=image_check
    )
    data_root = DataRoot(root).ensure()
    service = IngestorService(
        settings,
        options,
        Applier(data_root, full_image_check=image_check == "full"),
        Checkpoint(data_root.offset_file, settings.stream),
        AmqpTaskPublisher(settings, options.task_queue) if tasks else NoTasks(),
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(service.run(stop))
    while service.committed is None:
        await asyncio.sleep(0.001)
    started = time.perf_counter()  # from the first committed batch: connection set-up is not throughput
    first = service.committed
    while service.committed < last_offset:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    stop.set()
    await runner
    return (last_offset - first) / elapsed


def run() -> list[Row]:
    from azaion_shared.messages import Annotation
    from ingestor.publish import publish_messages

    image = jpeg_of_about(100 * 1024)
    stream = f"bench-ingestor-{uuid.uuid4().hex[:8]}"
    settings = rabbit(stream)
    messages = [Annotation(name=f"img-{i:06d}", image=image, detections=(), role="Validator") for i in range(COUNT)]
    started = time.perf_counter()
    publish_messages(settings, messages)
    print(f"published {COUNT} messages of {len(image) / 1024:.0f} KB in {time.perf_counter() - started:.1f} s")
    bare, last = asyncio.run(bare_consumer(settings, COUNT))
    print(f"bare rstream consumer (counts only): {bare:.0f} msg/s")
    rows = []
    for check, tasks in (("header", True), ("full", True), ("header", False)):
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            rate = asyncio.run(ingestor_run(settings, Path(tmp), last, check, tasks))
        ratio = rate / bare
        what = f"image_check={check}, tasks {'on' if tasks else 'off'}"
        print(f"ingestor ({what}, durable): {rate:.0f} msg/s = {ratio:.2f} x bare")
        goal = ">= 0.5 x bare rstream consumer" if tasks else "(informational: the cost of the task queue)"
        rows.append(
            Row(
                f"ingestor throughput, 100 KB images, {what}",
                goal,
                f"{ratio:.2f} x ({rate:.0f} vs {bare:.0f} msg/s)",
                ratio >= 0.5,
            )
        )

    async def cleanup():
        from ingestor.publish import producer

        async with producer(settings) as prod:
            await prod.delete_stream(stream, missing_ok=True)

    asyncio.run(cleanup())
    return rows
