"""Augmentor replicas against the real broker: sharing work, crashes, edits and deletes."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from augmentor_proc import AugmentorProcess, seed_images
from ingestor_proc import wait_until

from azaion_shared.paths import DataRoot, variant_stem
from azaion_shared.tasks import AugmentTask, encode_task

pytestmark = pytest.mark.broker


@pytest.fixture
def queue(rabbit):
    name = f"test-augment-{uuid.uuid4().hex[:8]}"
    yield name

    async def drop():
        import aio_pika

        connection = await aio_pika.connect(rabbit.amqp_url())
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(name)

    asyncio.run(drop())


def publish_tasks(rabbit, queue: str, tasks: list[AugmentTask]) -> None:
    async def send():
        import aio_pika

        connection = await aio_pika.connect(rabbit.amqp_url())
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_queue(queue, durable=True)
            for task in tasks:
                await channel.default_exchange.publish(aio_pika.Message(encode_task(task)), routing_key=queue)

    asyncio.run(send())


def counts(root: DataRoot) -> tuple[int, int, int]:
    images = [p for p in root.processed.images.glob("*.jpg")] if root.processed.images.exists() else []
    labels = [p for p in root.processed.labels.glob("*.txt")] if root.processed.labels.exists() else []
    markers = root.processed.marker_names()
    return len(images), len(labels), len(markers)


def complete_or_absent(root: DataRoot, names: list[str]) -> None:
    """Every name with a marker has all 16 files; temporary files are never under a final name."""
    for name in names:
        if root.processed.marker_path(name).exists():
            for stem in [name] + [variant_stem(name, i) for i in range(1, 8)]:
                assert root.processed.image(stem).stat().st_size > 0, stem
                assert root.processed.label(stem).exists(), stem


def test_two_replicas_share_100_images_once_each(tmp_path, rabbit, queue):
    root = DataRoot(tmp_path / "root").ensure()
    replicas = [AugmentorProcess(root.root, queue, tmp_path / f"replica-{i}.log", workers="1") for i in range(2)]
    for replica in replicas:
        replica.start()
    try:
        wait_until(
            lambda: all("consuming" in r.log_path.read_text(errors="replace") for r in replicas),
            60,
            what="both replicas consuming",
        )
        names = seed_images(root, 100, size=(256, 192))
        # Every image twice, as a replay of the stream would: the duplicates must not be processed again.
        tasks = [AugmentTask(name=n, action="upsert") for n in names]
        publish_tasks(rabbit, queue, tasks + tasks)
        wait_until(lambda: counts(root) == (800, 800, 100), 180, what="800 images, 800 labels, 100 markers")
        time.sleep(2)  # let duplicate tasks drain: they must not redo anything
    finally:
        for replica in replicas:
            replica.stop()
    assert counts(root) == (800, 800, 100)
    per_replica = [r.processed_names() for r in replicas]
    processed = Counter(name for names_ in per_replica for name in names_)
    assert set(processed) == set(names)
    assert max(processed.values()) == 1, [n for n, c in processed.items() if c > 1]
    assert all(len(p) > 0 for p in per_replica), "both replicas should have taken work"


def test_kill9_mid_run_then_restart_completes(tmp_path, rabbit, queue):
    root = DataRoot(tmp_path / "root").ensure()
    names = seed_images(root, 40, size=(640, 480))
    replica = AugmentorProcess(root.root, queue, tmp_path / "replica.log", workers="2")
    replica.start()
    try:
        wait_until(lambda: counts(root)[2] >= 3, 120, interval=0.05, what="some images processed")
        replica.kill9()
        done_before = counts(root)[2]
        assert done_before < 40, "killed too late to test anything"
        complete_or_absent(root, names)
        import cv2

        for image in root.processed.images.glob("*.jpg"):  # a file under its final name is always whole
            assert cv2.imread(str(image)) is not None, image
        replica.start()  # its unacked tasks come back, and reconciliation finds the rest
        wait_until(lambda: counts(root) == (320, 320, 40), 180, what="the restarted replica to finish")
    finally:
        replica.stop()
    complete_or_absent(root, names)
    leftovers = [p for p in root.processed.path.rglob("*.azaion-tmp")]
    assert leftovers == []


def test_edit_and_delete_propagate(tmp_path, rabbit, queue):
    root = DataRoot(tmp_path / "root").ensure()
    names = seed_images(root, 3)
    replica = AugmentorProcess(root.root, queue, tmp_path / "replica.log", workers="1").start()
    try:
        wait_until(lambda: counts(root) == (24, 24, 3), 60, what="the first pass")
        before = root.processed.image(variant_stem(names[0], 3)).read_bytes()
        seed_images(root, 3, prefix="img")  # same names, new pixels (an Edited annotation)
        import cv2
        import numpy as np

        cv2.imwrite(str(root.data.image(names[0])), np.full((48, 64, 3), 200, np.uint8))
        os.utime(root.data.image(names[0]), ns=(time.time_ns(), time.time_ns()))
        root.data.image(names[1]).unlink()  # a Deleted annotation
        root.data.label(names[1]).unlink()
        publish_tasks(
            rabbit, queue, [AugmentTask(name=names[0], action="upsert"), AugmentTask(name=names[1], action="delete")]
        )
        wait_until(
            lambda: (
                not root.processed.image(names[1]).exists()
                and root.processed.image(variant_stem(names[0], 3)).read_bytes() != before
            ),
            60,
            what="the edit regenerated and the delete removed",
        )
    finally:
        replica.stop()
    assert counts(root) == (16, 16, 2)
    assert not any(root.processed.images.glob(f"{names[1]}*"))


def test_malformed_task_is_dropped_and_the_replica_goes_on(tmp_path, rabbit, queue):
    root = DataRoot(tmp_path / "root").ensure()
    replica = AugmentorProcess(root.root, queue, tmp_path / "replica.log", workers="1").start()
    try:

        async def send_garbage():
            import aio_pika

            connection = await aio_pika.connect(rabbit.amqp_url())
            async with connection:
                channel = await connection.channel()
                await channel.declare_queue(queue, durable=True)
                await channel.default_exchange.publish(aio_pika.Message(b"{not json"), routing_key=queue)

        asyncio.run(send_garbage())
        names = seed_images(root, 2)
        publish_tasks(rabbit, queue, [AugmentTask(name=n, action="upsert") for n in names])
        wait_until(lambda: counts(root) == (16, 16, 2), 60, what="the good tasks after the bad one")
    finally:
        replica.stop()
    assert "dropping a malformed task" in Path(tmp_path / "replica.log").read_text()


def _errors(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    return [line for line in lines if '"level": "ERROR"' in line or "Traceback" in line]


def test_a_starting_replica_leaves_a_running_replicas_files_alone(tmp_path, rabbit, queue):
    """Replica 1 is stopped between writing its 16 files and renaming them; replica 2 starts (and
    cleans temporary files) right then. Replica 1's commit must still succeed."""
    root = DataRoot(tmp_path / "root").ensure()
    (name,) = seed_images(root, 1, size=(256, 192))
    faults = tmp_path / "faults"
    faults.mkdir()
    first = AugmentorProcess(root.root, queue, tmp_path / "first.log", workers="1")
    first.env.update(AZAION_FAULT_POINTS="augmentor.before_commit", AZAION_FAULT_DIR=str(faults))
    second = AugmentorProcess(root.root, queue, tmp_path / "second.log", workers="1")
    first.start()  # its start-up reconciliation enqueues the image
    try:
        wait_until(lambda: any(faults.glob("augmentor.before_commit.*.reached")), 120, what="replica 1 to stage")
        staged = sorted(root.processed.path.rglob("*.azaion-tmp"))
        assert len(staged) == 16, staged
        assert counts(root) == (0, 0, 0)  # nothing under a final name before the marker can follow
        second.start()
        wait_until(
            lambda: "kept 16 of live writers" in second.log_path.read_text(errors="replace"),
            60,
            what="replica 2's start-up clean-up",
        )
        assert sorted(root.processed.path.rglob("*.azaion-tmp")) == staged, "replica 2 removed replica 1's files"
        (faults / "augmentor.before_commit.release").touch()
        wait_until(lambda: counts(root) == (8, 8, 1), 60, what="replica 1's commit")
        wait_until(lambda: name in first.processed_names(), 30, what="replica 1 to report the image")
    finally:
        (faults / "augmentor.before_commit.release").touch()
        second.stop()
        first.stop()
    complete_or_absent(root, [name])
    assert first.processed_names() == [name] and second.processed_names() == []
    assert _errors(first.log_path) == [] and _errors(second.log_path) == []
    assert list(root.processed.path.rglob("*.azaion-tmp")) == []
