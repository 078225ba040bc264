"""A running device's fleet work in a helper process (issue 28, swaps without a stutter): through the real
api and TUF repository, the helper polls, reads manifests, fetches, checks and decrypts, and sends
heartbeats at the lowest CPU priority; the plaintext reaches the device in an anonymous memory file;
errors arrive typed; a helper that died is started again."""

from __future__ import annotations

import os

import pytest
from release_kit import FAST, PASSWORD, Kit, onnx_file

from azaion_shared.api_client import ApiClient, ApiClientSettings
from azaion_shared.cdn import LocalStorage
from azaion_shared.crypto import generate_key, parse_key
from azaion_shared.errors import ApiError, SignatureError
from inference import fleet_helper
from inference.errors import HelperGone
from inference.fleet import Channel, start
from inference.priority import LOWEST_PRIORITY
from inference.release_cache import ReleaseCache
from inference.settings import InferenceOptions
from inference.store import ReleaseStore

pytestmark = pytest.mark.skipif(not fleet_helper.AVAILABLE, reason="the fleet helper needs Linux (memfd, SCM_RIGHTS)")


@pytest.fixture
def followed(api_server, tmp_path):
    """A device that started on release 1, following its channel through a helper process."""
    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("edge-1@x.io", PASSWORD, "Device")
    api_server.add_user("admin@x.io", PASSWORD, "Admin")
    kit = Kit(
        api_server.url, LocalStorage(tmp_path / "cdn"), parse_key(generate_key()), tmp_path / "keys", api_server.trust
    )
    models = [tmp_path / f"m{n}.onnx" for n in (1, 2)]
    for n, path in enumerate(models, 1):
        path.write_bytes(os.urandom(300_000 * n))  # the helper moves bytes; it does not load models
    kit.release(onnx_file(models[0]), promote=True)
    client = ApiClient(api_server.url, "edge-1@x.io", PASSWORD, retry=FAST, timeout=20)
    cache = ReleaseCache(tmp_path / "edge-cache")
    options = InferenceOptions(trusted_root=kit.root_file, device_name="edge-1")
    channel = Channel(options.trust_client(client, cache.folder), "stable", "edge-1", cache, client)
    assert start(channel).release.version == 1
    recipe = fleet_helper.Recipe(
        ApiClientSettings(url=api_server.url, email="edge-1@x.io", password=PASSWORD),
        client.token,
        kit.key,
        cache.folder,
        options,
    )
    helper, remote, store = fleet_helper.follow(recipe, channel, ReleaseStore(kit.key, client, cache))
    yield kit, models, helper, remote, store
    helper.close()
    client.close()


def test_the_helper_follows_the_channel_and_hands_over_the_plaintext_at_the_lowest_priority(followed, api_server):
    kit, models, helper, remote, store = followed
    assert remote.poll() is None and remote.version == 1  # unchanged since the device started
    assert os.getpriority(os.PRIO_PROCESS, helper.process.pid) == LOWEST_PRIORITY
    assert os.getpriority(os.PRIO_PROCESS, 0) != LOWEST_PRIORITY  # the device's own priority is left alone
    confirmed = remote.confirmed_at
    assert confirmed is not None

    kit.release(onnx_file(models[1]), promote=True)
    moved = remote.poll()
    assert moved is not None and moved.version == 2 and remote.version == 2
    assert remote.confirmed_at >= confirmed
    release = remote.release(2)
    artifact = release.artifact("onnx")
    model = store.model(release, artifact)
    assert model.payload == models[1].read_bytes()  # verified and decrypted there, whole here
    assert (model.version, model.origin, model.format) == (2, "published", "onnx")

    remote.api.heartbeat("edge-1", "2", "onnxruntime", 9.5, None, None)
    with ApiClient(api_server.url, "admin@x.io", PASSWORD, retry=FAST) as admin:
        (row,) = [d for d in admin.devices() if d.name == "edge-1"]
    assert row.version == "2" and row.user == "edge-1@x.io"


def test_errors_arrive_as_raised_and_a_helper_that_died_is_started_again(followed):
    _kit, _models, helper, remote, _store = followed
    with pytest.raises(SignatureError, match="release 7 is not in the fleet's signed targets"):
        remote.release(7)
    assert remote.poll() is None
    helper.process.kill()
    helper.process.wait()
    with pytest.raises(ApiError) as lost:  # the updater tries again at its next poll, refusing nothing
        remote.poll()
    assert isinstance(lost.value, HelperGone) and "exit status -9" in str(lost.value)
    assert remote.poll() is None and helper.starts == 2
    process = helper.process
    helper.close()  # the device's end of the socket closes: the helper leaves by itself
    assert process.returncode == 0
