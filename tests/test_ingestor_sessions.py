"""Ingestor sessions that end at the worst moment, and outages back to back (real broker)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path

import pytest
from annotations import annotation
from ingestor_proc import IngestorProcess, wait_until
from outage_proxy import OutageProxy

from azaion_shared.paths import DataRoot
from azaion_shared.settings import RabbitSettings
from azaion_shared.tasks import AugmentTask
from ingestor.publish import publish_messages

pytestmark = pytest.mark.broker


@pytest.fixture
def stream_rabbit(rabbit, stream_name) -> RabbitSettings:
    return rabbit.model_copy(update={"stream": stream_name})


class GatedPublisher:
    """Records what was published; its first publish stops half-way until the test releases it,
    then completes or fails as the test says (a broker lost in the middle of publishing)."""

    def __init__(self, block_first: bool = True):
        self.block_first = block_first
        self.calls = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.fail = False
        self.published: list[AugmentTask] = []

    async def publish(self, tasks: list[AugmentTask]) -> None:
        self.calls += 1
        if self.calls == 1 and self.block_first:
            self.entered.set()
            await self.release.wait()
            if self.fail:
                raise ConnectionError("the broker went away in the middle of publishing")
        self.published.extend(tasks)

    async def close(self) -> None:
        return None


def make_service(root: Path, rabbit: RabbitSettings, publisher):
    from ingestor.apply import Applier
    from ingestor.checkpoint import Checkpoint
    from ingestor.service import IngestorService
    from ingestor.settings import IngestorOptions

    data_root = DataRoot(root).ensure()
    options = IngestorOptions(
        max_batch=1, health_port=0, lag_probe_seconds=0, watchdog_seconds=5, backoff_initial=0.2, backoff_max=1
    )
    checkpoint = Checkpoint(data_root.offset_file, rabbit.stream)
    return IngestorService(rabbit, options, Applier(data_root), checkpoint, publisher), checkpoint


async def until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("commit_outcome", ["fails", "completes"])
def test_session_ending_mid_publish_never_moves_the_checkpoint_past_an_unfinished_batch(
    tmp_path, stream_rabbit, commit_outcome
):
    names = ["n0", "n1", "n2"]
    publish_messages(stream_rabbit, [annotation(n, i, "Validator") for i, n in enumerate(names)])
    root = tmp_path / "root"
    data = DataRoot(root).data

    async def first_session() -> tuple[GatedPublisher, object]:
        publisher = GatedPublisher()
        service, checkpoint = make_service(root, stream_rabbit, publisher)
        stop = asyncio.Event()
        running = asyncio.create_task(service.run(stop))
        # Batch 0 (n0) is publishing its tasks, held half-way; batch 1 (n1) is applied meanwhile.
        await until(lambda: publisher.entered.is_set(), 30, "batch 0 to publish")
        await until(
            lambda: data.image("n1").exists() and service.committer.inflight.done(), 30, "batch 1 to be applied"
        )
        stop.set()  # the session ends here, with batch 0's commit half-way
        await asyncio.sleep(0.5)
        assert not running.done(), "the session returned while a commit of its own was still running"
        assert checkpoint.read().offset is None, "the checkpoint moved before batch 0 was committed"
        publisher.fail = commit_outcome == "fails"
        publisher.release.set()
        await asyncio.wait_for(running, 30)
        return publisher, checkpoint

    publisher, checkpoint = asyncio.run(first_session())
    if commit_outcome == "fails":
        assert checkpoint.read().offset is None  # batch 0 failed, so batch 1 was abandoned with it
        assert publisher.published == []
    else:
        assert checkpoint.read().offset == 1  # batch 0 committed, then batch 1, whole
        assert [t.name for t in publisher.published] == ["n0", "n1"]

    async def next_session() -> GatedPublisher:
        publisher = GatedPublisher(block_first=False)
        service, checkpoint = make_service(root, stream_rabbit, publisher)
        stop = asyncio.Event()
        running = asyncio.create_task(service.run(stop))
        await until(lambda: checkpoint.read().offset == 2, 30, "the restart to commit every batch")
        stop.set()
        await asyncio.wait_for(running, 30)
        return publisher

    restarted = asyncio.run(next_session())
    tasks = {t.name for t in publisher.published + restarted.published if t.action == "upsert"}
    assert tasks == set(names), "a name lost its augment task"
    assert sorted(data.names()) == names


def _log_entries(log_path: Path) -> list[dict]:
    entries = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            entries.append({"message": line, "level": "RAW"})
    return entries


def _resubscribed_after(log_path: Path, since: float) -> float | None:
    for entry in _log_entries(log_path):
        if entry["message"].startswith("subscribed to ") and "time" in entry:
            at = datetime.fromisoformat(entry["time"]).timestamp()
            if at >= since:
                return at
    return None


def test_two_outages_5_s_apart_each_reconnect_within_2_s_of_the_return(tmp_path, stream_rabbit):
    proxy = OutageProxy(stream_rabbit.stream_port)
    root = tmp_path / "root"
    log_path = tmp_path / "ingestor.log"
    proc = IngestorProcess(
        root,
        stream_rabbit.stream,
        log_path,
        backoff_initial="1",  # the production defaults: the back-off itself is under test
        backoff_max="30",
    )
    proc.env.update(
        AZAION_RABBIT__STREAM_PORT=str(proxy.port), AZAION_RABBIT__LOAD_BALANCER="true", AZAION_LOG_JSON="true"
    )
    data = DataRoot(root).data
    proc.start()
    try:
        publish_messages(stream_rabbit, [annotation("before", 1, "Validator")])  # straight to the broker
        wait_until(lambda: data.image("before").exists(), 30, what="the first message")
        returns = []
        for outage in range(2):
            proxy.down()
            time.sleep(4)  # the broker is away for 4 s: long enough for the back-off to grow
            returned = proxy.up()
            returns.append(returned)
            publish_messages(stream_rabbit, [annotation(f"after-{outage}", 2 + outage, "Validator")])
            wait_until(lambda n=outage: data.image(f"after-{n}").exists(), 30, what=f"recovery from outage {outage}")
            back = _resubscribed_after(log_path, returned)
            assert back is not None and back - returned < 2.0, (outage, back and back - returned, proc.log()[-3000:])
            if outage == 0:
                time.sleep(max(0.0, returned + 5 - time.time()))  # the second outage 5 s after the first return
    finally:
        proc.stop()
        proxy.close()
    entries = _log_entries(log_path)
    lost = [e for e in entries if e["message"].startswith("lost the stream")]
    assert len(lost) == 2 and all(e["level"] == "WARNING" for e in lost), lost
    noisy = [e for e in entries if e["level"] in ("ERROR", "CRITICAL", "RAW") or "exception" in e]
    assert noisy == [], noisy[:5]
    assert "never awaited" not in proc.log()
