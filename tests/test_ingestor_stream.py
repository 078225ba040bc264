"""The ingestor against the real RabbitMQ that `make test` starts: a real process, real stream."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from annotations import Expected, actual_files, annotation, random_workload
from ingestor_proc import IngestorProcess, wait_until
from rstream import AMQPMessage

from azaion_shared.labels import Box
from azaion_shared.messages import AnnotationStatus, BulkAction, application_properties, encode_body
from azaion_shared.settings import RabbitSettings
from ingestor.publish import publish_messages, publish_raw, to_amqp

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def stream_rabbit(rabbit, stream_name) -> RabbitSettings:
    return rabbit.model_copy(update={"stream": stream_name})


def expected_for(messages) -> dict[str, bytes]:
    expected = Expected()
    for m in messages:
        expected.apply(m)
    return expected.files()


def temp_files(root: Path) -> list[Path]:
    """Temporary or staged files left behind (none may remain once the ingestor has stopped cleanly)."""
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and (".azaion-tmp" in p.name or p.name.endswith(".part") or ".staging" in p.parts)
    ]


def test_routing_edit_validate_delete_and_restart(tmp_path, stream_rabbit):
    root = tmp_path / "root"
    first = [
        annotation("op-1", 1, "Operator"),
        annotation("val-1", 2, "Validator"),
        annotation("op-2", 3, "Operator"),
        annotation("op-1", 4, "Operator", AnnotationStatus.EDITED),
        BulkAction(status=AnnotationStatus.VALIDATED, names=("op-1",)),
        BulkAction(status=AnnotationStatus.DELETED, names=("op-2", "val-1")),
    ]
    publish_messages(stream_rabbit, first)
    proc = IngestorProcess(root, stream_rabbit.stream, tmp_path / "ingestor.log").start()
    try:
        wait_until(lambda: actual_files(root) == expected_for(first), 30, what="the first messages applied")
        assert (root / "data/images/op-1.jpg").read_bytes() == first[3].image  # the edit, then validated
        wait_until(lambda: proc.checkpoint() is not None and proc.checkpoint() >= 5, 10, what="the checkpoint")
        inodes = {p: p.stat().st_ino for p in root.rglob("*.jpg")}
        assert proc.stop() == 0
        # Restart: resumes after the checkpoint; nothing already done is written again.
        second = [annotation("val-2", 5, "Admin")]
        publish_messages(stream_rabbit, second)
        proc.start()
        wait_until(lambda: actual_files(root) == expected_for(first + second), 30, what="the new message")
        assert {p: p.stat().st_ino for p in inodes} == inodes
        assert "subscribed to" in proc.log() and f"at {proc.checkpoint()}" not in proc.log().splitlines()[0]
    finally:
        proc.stop()
    assert temp_files(root) == []


def test_kill9_at_random_moments_loses_nothing(tmp_path, stream_rabbit):
    """600 messages flow while the ingestor is killed with SIGKILL at random moments and restarted."""
    messages = random_workload(600, seed=11, size=(320, 240))
    root = tmp_path / "root"
    proc = IngestorProcess(root, stream_rabbit.stream, tmp_path / "ingestor.log", max_batch="16").start()

    def paced() -> None:  # a flow that lasts several seconds, so that kills land in the middle of it
        for start in range(0, len(messages), 25):
            publish_messages(stream_rabbit, messages[start : start + 25])
            time.sleep(0.25)

    publisher = threading.Thread(target=paced)
    publisher.start()
    rng = random.Random(5)
    expected = expected_for(messages)
    at_kill: list[int | None] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (publisher.is_alive() or actual_files(root) != expected):
            time.sleep(rng.uniform(0.2, 1.2))
            at_kill.append(proc.checkpoint())
            proc.kill9()
            proc.start()
        publisher.join()
        wait_until(lambda: actual_files(root) == expected, 90, what="every message applied after the kills")
        final = proc.checkpoint()
        proc.stop()
    finally:
        proc.kill9()
    mid_flow = [c for c in at_kill if c is not None and c < final]
    assert len(mid_flow) >= 3, f"too few kills while messages were being applied: {at_kill} (final {final})"
    assert actual_files(root) == expected  # byte-identical, no extra files
    assert temp_files(root) == []
    rejected = list((root / "data-rejected").glob("*")) if (root / "data-rejected").exists() else []
    assert rejected == []


def test_broker_restart_while_messages_flow(tmp_path, stream_rabbit):
    """The broker restarts under load: nothing is lost, and each service says so in one line a side
    (the cause, then the recovery), with no library traceback and no un-awaited coroutine."""
    from augmentor_proc import AugmentorProcess

    script = REPO / "scripts" / "rabbitmq.sh"
    if subprocess.run([str(script), "status"], capture_output=True).returncode != 0:
        pytest.fail("this test restarts the broker and needs the project's own node (scripts/rabbitmq.sh start)")
    messages = random_workload(200, seed=3)
    root = tmp_path / "root"
    proc = IngestorProcess(root, stream_rabbit.stream, tmp_path / "ingestor.log").start()
    replica = AugmentorProcess(root, f"{stream_rabbit.stream}-tasks", tmp_path / "augmentor.log", workers="1")
    replica.env["AZAION_LOG_JSON"] = "false"
    replica.start()
    try:
        publish_messages(stream_rabbit, messages[:100])
        wait_until(lambda: proc.checkpoint() is not None, 30, what="the ingestor to start applying")
        wait_until(lambda: "consuming" in replica.log_path.read_text(errors="replace"), 60, what="the augmentor")
        subprocess.run([str(script), "restart"], check=True, capture_output=True, timeout=180)
        publish_messages(stream_rabbit, messages[100:])
        expected = expected_for(messages)
        try:
            wait_until(lambda: actual_files(root) == expected, 120, what="recovery after the broker restart")
            wait_until(
                lambda: "reconnected to the broker" in replica.log_path.read_text(errors="replace"),
                60,
                what="the augmentor to reconnect",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; ingestor log:\n{proc.log()[-4000:]}") from None
        assert proc.proc.poll() is None, "the ingestor must not exit because of a disconnect"
        assert replica.proc.poll() is None, "the augmentor must not exit because of a disconnect"
    finally:
        proc.stop()
        replica.stop()
    assert temp_files(root) == []
    ingestor_log, augmentor_log = proc.log(), replica.log_path.read_text(errors="replace")
    assert "WARNING ingestor.service: lost the stream at" in ingestor_log
    assert "WARNING augmentor.service: lost the connection to the broker" in augmentor_log
    for log in (ingestor_log, augmentor_log):
        assert "Traceback" not in log and "never awaited" not in log, log[-4000:]
        assert " ERROR " not in log, log[-4000:]


def test_fuzzed_messages_interleaved(tmp_path, stream_rabbit):
    rng = random.Random(9)
    good, raw, bad_positions = [], [], []
    for i in range(120):
        if rng.random() < 0.35:
            kind = rng.choice(["bytes", "not-msgpack", "bad-status", "bad-name", "bad-image", "outside", "no-props"])
            raw.append(_bad_message(kind, i, rng))
            bad_positions.append(len(raw) - 1)
        else:
            message = annotation(f"good-{i}", i, rng.choice(["Operator", "Validator"]))
            good.append(message)
            raw.append(to_amqp(message))
    import asyncio

    asyncio.run(publish_raw(stream_rabbit, raw))
    root = tmp_path / "root"
    proc = IngestorProcess(root, stream_rabbit.stream, tmp_path / "ingestor.log").start()
    try:
        wait_until(lambda: actual_files(root) == expected_for(good), 60, what="every good message applied")
        rejected = root / "data-rejected"
        wait_until(
            lambda: len(list(rejected.glob("*.reason.txt"))) == len(bad_positions),
            30,
            what="every bad message rejected",
        )
    finally:
        proc.stop()
    reasons = sorted(rejected.glob("*.reason.txt"))
    assert len(reasons) == len(bad_positions)
    for reason in reasons:
        assert (rejected / reason.name.replace(".reason.txt", ".bin")).stat().st_size > 0
        assert reason.read_text().strip()


def _bad_message(kind: str, i: int, rng: random.Random):
    ok = annotation(f"bad-{i}", i, "Validator")
    props = application_properties(ok)
    if kind == "bytes":
        return os.urandom(rng.randrange(1, 300))  # not even AMQP
    if kind == "not-msgpack":
        return AMQPMessage(body=b"\xc1" + os.urandom(50), application_properties=props)
    if kind == "bad-status":
        return AMQPMessage(body=encode_body(ok), application_properties={"AnnotationStatus": "Exploded"})
    if kind == "no-props":
        return AMQPMessage(body=encode_body(ok))
    if kind == "bad-name":
        import msgpack

        return AMQPMessage(
            body=msgpack.packb({"name": "../etc", "image": ok.image, "detections": "[]", "role": "Admin"}),
            application_properties=props,
        )
    if kind == "bad-image":
        return to_amqp(ok.model_copy(update={"image": ok.image[:20]}))
    return to_amqp(annotation(f"bad-{i}", i, "Validator", boxes=[Box(0, 5.0, 5.0, 0.1, 0.1)]))


def test_wrong_credentials_exit_with_a_clear_message(tmp_path, stream_rabbit):
    env = {
        **os.environ,
        "AZAION_ENV": "development",
        "AZAION_ROOT": str(tmp_path),
        "AZAION_RABBIT__PASSWORD": "nope",
        "AZAION_RABBIT__STREAM": stream_rabbit.stream,
        "AZAION_INGESTOR__HEALTH_PORT": "0",
    }
    out = subprocess.run([sys.executable, "-m", "ingestor"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "AZAION_RABBIT__PASSWORD" in out.stderr


def test_health_and_metrics(tmp_path, stream_rabbit):
    import socket

    import httpx

    with socket.socket() as sock:  # a free port (conftest is not importable in every invocation)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    publish_messages(stream_rabbit, [annotation("m-1", 1, "Validator"), b_action()])
    proc = IngestorProcess(
        root := tmp_path / "root", stream_rabbit.stream, tmp_path / "log", health_port=str(port), lag_probe_seconds="1"
    ).start()
    try:
        wait_until(lambda: actual_files(root) == expected_for([annotation("m-1", 1, "Validator"), b_action()]), 30)

        def metrics_ready():
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            except httpx.HTTPError:
                return False
            return (
                'ingestor_messages_applied_total{status="Created"} 1.0' in text and "ingestor_lag_messages 0.0" in text
            )

        wait_until(metrics_ready, 20, what="metrics")
        health = httpx.get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
    finally:
        proc.stop()


def b_action():
    return BulkAction(status=AnnotationStatus.VALIDATED, names=("m-1",))


def test_publish_command(tmp_path, stream_rabbit):
    from annotations import make_jpeg

    images = tmp_path / "batch" / "images"
    labels = tmp_path / "batch" / "labels"
    images.mkdir(parents=True)
    labels.mkdir()
    (images / "a.jpg").write_bytes(make_jpeg(1))
    (labels / "a.txt").write_text("3 0.5 0.5 0.25 0.25\n")
    (images / "b.jpg").write_bytes(make_jpeg(2))
    env = {**os.environ, "AZAION_ENV": "development", "AZAION_RABBIT__STREAM": stream_rabbit.stream}
    cmd = [sys.executable, "-m", "ingestor", "publish"]
    for args in (["created", str(images), "--role", "Operator"], ["validated", "a"], ["deleted", "b"]):
        out = subprocess.run(cmd + args, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    root = tmp_path / "root"
    proc = IngestorProcess(root, stream_rabbit.stream, tmp_path / "log").start()
    try:
        wait_until(
            lambda: (root / "data/labels/a.txt").exists() and (root / "data_deleted/images/b.jpg").exists(),
            30,
            what="the published messages",
        )
    finally:
        proc.stop()
    assert (root / "data/labels/a.txt").read_text() == "3 0.500000 0.500000 0.250000 0.250000\n"
    assert (root / "data/images/a.jpg").read_bytes() == make_jpeg(1)
    assert (root / "data_deleted/labels/b.txt").read_text() == ""


def test_recreated_stream_is_detected_and_consumed(tmp_path, stream_rabbit):
    """Offsets start over in a recreated stream: the ingestor must notice, not wait at its old offset;
    a rejection at offset 0 of each epoch keeps both messages' evidence."""
    import asyncio

    import yaml

    from ingestor.publish import producer

    root = tmp_path / "root"
    first = [annotation(f"old-{i}", i, "Validator") for i in range(5)]
    garbage = [b"epoch 0: not an annotation", b"epoch 1: not one either"]
    asyncio.run(publish_raw(stream_rabbit, [AMQPMessage(body=garbage[0])]))  # offset 0 of the first stream
    publish_messages(stream_rabbit, first)
    proc = IngestorProcess(root, stream_rabbit.stream, tmp_path / "ingestor.log").start()
    try:
        wait_until(lambda: actual_files(root) == expected_for(first), 30, what="the first messages")
        wait_until(lambda: proc.checkpoint() == 5, 10, what="the checkpoint")
        proc.stop()  # while it is away, the stream is deleted and recreated with new messages

        async def delete():
            async with producer(stream_rabbit) as prod:
                await prod.delete_stream(stream_rabbit.stream)

        asyncio.run(delete())
        second = [annotation("new-0", 10, "Validator"), annotation("old-0", 11, "Validator", AnnotationStatus.EDITED)]
        asyncio.run(publish_raw(stream_rabbit, [AMQPMessage(body=garbage[1])]))  # offset 0 again
        publish_messages(stream_rabbit, second)  # offsets 1 and 2 of the recreated stream
        proc.start()  # resumes at offset 6, which the new stream does not have yet
        try:
            wait_until(lambda: actual_files(root) == expected_for(first + second), 60, what="the recreated stream")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; ingestor log:\n{proc.log()[-3000:]}") from None
    finally:
        proc.stop()
    checkpoint = yaml.safe_load((root / "offset.yaml").read_text())
    assert checkpoint["epoch"] == 1 and checkpoint["offset"] == 2, checkpoint
    assert "was rewritten" in proc.log()
    rejected = root / "data-rejected"
    kept = [p.read_bytes() for p in rejected.glob("*.bin")]  # the AMQP messages as received
    assert len(kept) == 2 and all(sum(body in raw for raw in kept) == 1 for body in garbage), kept
    assert sorted(p.name.split("-")[:2] for p in rejected.glob("*.reason.txt")) == [["0", "0"], ["1", "0"]]


def _queued_tasks(rabbit: RabbitSettings, queue: str) -> list[str]:
    """The names of the augment tasks waiting in ``queue`` (taken off it)."""
    import asyncio

    import aio_pika

    from azaion_shared.tasks import decode_task

    async def drain() -> list[str]:
        connection = await aio_pika.connect(rabbit.amqp_url(), timeout=15)
        async with connection:
            channel = await connection.channel()
            found = await channel.declare_queue(queue, passive=True)
            names = []
            while (message := await found.get(no_ack=True, fail=False)) is not None:
                names.append(decode_task(message.body).name)
            return names

    return asyncio.run(drain())


def test_a_broker_back_with_its_state_lost_is_read_from_its_first_offset_at_once(tmp_path, stream_rabbit):
    """The broker returns with a new data directory: its stream is rewritten from offset 0, below the
    checkpoint. The messages published after its return are applied, with their augment tasks, within
    10 s of it, where a subscription at the old checkpoint + 1 would have waited for the watchdog (set to
    60 s here, so that only the check at subscription can meet the 10 s)."""
    script = REPO / "scripts" / "rabbitmq.sh"
    if subprocess.run([str(script), "status"], capture_output=True).returncode != 0:
        pytest.fail("this test wipes the broker and needs the project's own node (scripts/rabbitmq.sh start)")
    root = tmp_path / "root"
    old = [annotation(f"old-{i}", i, "Validator") for i in range(6)]
    publish_messages(stream_rabbit, old)
    proc = IngestorProcess(root, stream_rabbit.stream, tmp_path / "ingestor.log", watchdog_seconds="60").start()
    queue = f"{stream_rabbit.stream}-tasks"
    try:
        wait_until(lambda: proc.checkpoint() == 5, 30, what="the first messages")
        subprocess.run([str(script), "wipe"], check=True, capture_output=True, timeout=180)
        returned = time.monotonic()
        new = [annotation("new-0", 20, "Validator"), annotation("new-1", 21, "Validator")]
        publish_messages(stream_rabbit, new)  # offsets 0 and 1 of a stream the broker no longer remembers
        try:
            wait_until(lambda: actual_files(root) == expected_for(old + new), 10, 0.05, "the new stream's messages")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; ingestor log:\n{proc.log()[-3000:]}") from None
        applied = time.monotonic() - returned
        wait_until(lambda: proc.checkpoint() == 1, 10, what="the new epoch's checkpoint")
        tasks = _queued_tasks(stream_rabbit, queue)
    finally:
        proc.stop()
    assert applied <= 10
    assert sorted(tasks) == ["new-0", "new-1"], tasks  # the old queue went with the broker's state
    assert yaml.safe_load((root / "offset.yaml").read_text())["epoch"] == 1
    assert "was rewritten" in proc.log()
