"""Staged rollouts through the real api and TUF repository: a release reaches only its share of the fleet
(each device decides by a stable hash of its name, from the signed pointer), widens on schedule, and
halts by itself when its canaries report it failing. Devices are the device's own Channel (python-tuf's
ngclient against the api) with their own Device accounts; the trainer side is trainer.rollout."""

from __future__ import annotations

import pytest
from release_kit import FAST, PASSWORD, Kit, onnx_file

from azaion_shared.api_client import ApiClient
from azaion_shared.cdn import LocalStorage
from azaion_shared.crypto import generate_key, parse_key
from azaion_shared.releases import rollout_slot
from inference.fleet import Channel
from inference.release_cache import ReleaseCache
from inference.settings import InferenceOptions
from trainer.errors import TrainerError
from trainer.rollout import roll_out

FLEET = [f"edge-{i:02d}" for i in range(12)]


class Fleet:
    """Twelve devices, each following the stable channel with its own account and TUF client."""

    def __init__(self, api_server, kit: Kit, tmp_path):
        self.devices, self.running = {}, {}
        for name in FLEET:
            api_server.add_user(f"{name}@x.io", PASSWORD, "Device")
            client = ApiClient(api_server.url, f"{name}@x.io", PASSWORD, retry=FAST, timeout=20)
            cache = ReleaseCache(tmp_path / name)
            trust = InferenceOptions(trusted_root=kit.root_file).trust_client(client, cache.folder)
            self.devices[name] = (client, Channel(trust, "stable", name, cache, client))

    def poll(self, broken: int | None = None) -> dict[str, int]:
        """Every device polls and reports: the release it runs now, or that it refused ``broken``."""
        for name, (client, channel) in self.devices.items():
            channel.poll()
            if channel.version == broken:  # it keeps running what it ran, and says why
                error = f"release {broken} refused: the model loads but does not run"
                client.heartbeat(name, str(self.running[name]), "onnxruntime", 10.0, error)
                continue
            self.running[name] = channel.version
            client.heartbeat(name, str(channel.version), "onnxruntime", 10.0, None)
        return dict(self.running)

    def close(self) -> None:
        for client, _channel in self.devices.values():
            client.close()


@pytest.fixture
def site(api_server, tmp_path):
    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    kit = Kit(
        api_server.url, LocalStorage(tmp_path / "cdn"), parse_key(generate_key()), tmp_path / "keys", api_server.trust
    )
    (tmp_path / "m.onnx").write_bytes(b"any bytes: a rollout does not load models" * 100)
    fleet = Fleet(api_server, kit, tmp_path)
    yield kit, fleet, onnx_file(tmp_path / "m.onnx")
    fleet.close()


def test_a_rollout_reaches_only_its_share_then_the_whole_fleet(site):
    kit, fleet, model = site
    kit.release(model, promote=True)  # release 1 everywhere
    assert set(fleet.poll().values()) == {1}
    kit.release(model)
    half = {name for name in FLEET if rollout_slot("stable", name) < 0.5}
    assert 0 < len(half) < len(FLEET)  # this fleet has devices on both sides of the line
    seen = []

    def between_steps(_seconds: float) -> None:
        seen.append(fleet.poll())

    with kit.client() as api:
        outcome = roll_out(kit.publisher(api), 2, [0.5, 1.0], every=60, sleep=between_steps)
    assert outcome.completed, outcome.steps
    assert {name for name, version in seen[0].items() if version == 2} == half  # exactly the share, no more
    assert all(version == 1 for name, version in seen[0].items() if name not in half)
    assert set(fleet.poll().values()) == {2}  # widened: the whole fleet
    with kit.client() as api, pytest.raises(TrainerError, match="the last 1"):
        roll_out(kit.publisher(api), 2, [0.5], every=0)


def test_a_rollout_halts_by_itself_when_its_canaries_fail(site):
    kit, fleet, model = site
    kit.release(model, promote=True)
    fleet.poll()
    kit.release(model)  # release 2: every canary will report it refused
    reports = []

    def between_steps(_seconds: float) -> None:
        reports.append(fleet.poll(broken=2))

    with kit.client() as api:
        outcome = roll_out(kit.publisher(api), 2, [0.25, 0.5, 1.0], every=60, max_failing=0.2, sleep=between_steps)
    assert not outcome.completed and len(reports) == 1  # halted at the first step
    assert "halted" in outcome.steps[-1] and "back on release 1" in outcome.steps[-1]
    assert set(fleet.poll().values()) == {1}  # the whole fleet on the release it ran
    with kit.client() as api:
        pointer = kit.publisher(api).pointer()
    assert pointer.version == 1 and pointer.fraction == 1.0
