"""Choosing, fetching and building the model for a device, against the real api service."""

from __future__ import annotations

import pytest
from edge_fakes import FAKE_ENGINE, FAKE_RKNN, install

from azaion_shared.api_client import ApiClient, RetryPolicy
from azaion_shared.cdn import LocalStorage
from azaion_shared.crypto import MAGIC, generate_key, parse_key
from azaion_shared.distribution import publish_resource
from azaion_shared.model_formats import ONNX, RKNN, TENSORRT
from azaion_shared.model_info import make_bundle
from inference.acquire import Acquirer, load_file
from inference.device import Device
from inference.errors import ModelError
from inference.runtime import acquire_backend
from inference.settings import InferenceOptions

PASSWORD = "a-long-enough-password"
GPU = Device(TENSORRT, "fake GPU", "87")


@pytest.fixture
def world(api_server, tmp_path, tiny_model):
    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("edge@x.io", PASSWORD, "Device")
    key = parse_key(generate_key())
    cdn = LocalStorage(tmp_path / "cdn")
    onnx = tiny_model.onnx(128, 4)

    class World:
        def client(self, email):
            return ApiClient(
                api_server.url, email, PASSWORD, retry=RetryPolicy(attempts=2, base_delay=0.01), timeout=10
            )

        def publish(self, path, name):
            with self.client("trainer@x.io") as api:
                publish_resource(path, name, key, api, cdn)

        def acquirer(self, email, cache="cache", **options):
            return Acquirer(InferenceOptions(**options), key, self.client(email), cdn, tmp_path / cache)

    world = World()
    world.key, world.cdn, world.onnx, world.tmp, world.api = key, cdn, onnx, tmp_path, api_server
    return world


def stored(api_server, name: str) -> bool:
    return any(p.name == f"{name}.small" for p in api_server.root.rglob("*"))


def test_nothing_published_is_a_clear_error(world):
    with pytest.raises(ModelError, match=r"no model is published yet \(azaion.onnx\)"):
        world.acquirer("edge@x.io").acquire(Device(ONNX, "cpu"))


def test_a_cpu_device_gets_the_onnx_model_in_memory(world):
    world.publish(world.onnx, "azaion.onnx")
    model = world.acquirer("edge@x.io").acquire(Device(ONNX, "cpu"))
    assert (model.name, model.format, model.origin) == ("azaion.onnx", "onnx", "published")
    assert model.payload == world.onnx.read_bytes()
    cached = list((world.tmp / "cache").iterdir())
    assert cached and all(p.read_bytes() not in model.payload for p in cached)  # only the encrypted big part


def test_a_wrong_key_is_refused_with_a_hint(world):
    world.publish(world.onnx, "azaion.onnx")
    acquirer = world.acquirer("edge@x.io")
    acquirer.key = parse_key(generate_key())
    with pytest.raises(ModelError, match="AZAION_MODEL_KEY"):
        acquirer.acquire(Device(ONNX, "cpu"))


def test_gpu_without_a_published_engine_builds_caches_and_publishes_it(world, monkeypatch):
    install(monkeypatch)
    world.publish(world.onnx, "azaion.onnx")
    model, backend = acquire_backend(world.acquirer("trainer@x.io"), GPU, InferenceOptions())
    assert (model.name, model.origin, backend.name) == ("azaion.cc87.engine", "built here", "tensorrt")
    local = world.tmp / "cache" / "azaion.cc87.engine.local"
    assert local.read_bytes().startswith(MAGIC)  # cached encrypted
    assert stored(world.api, "azaion.cc87.engine")  # an uploader's role may publish it
    # the next start (any user) gets the published engine and builds nothing
    model, _ = acquire_backend(world.acquirer("edge@x.io", cache="cache2"), GPU, InferenceOptions())
    assert model.origin == "published"


def test_a_device_role_keeps_its_engine_local_and_reuses_it(world, monkeypatch):
    install(monkeypatch)
    world.publish(world.onnx, "azaion.onnx")
    first, _ = acquire_backend(world.acquirer("edge@x.io"), GPU, InferenceOptions())
    assert first.origin == "built here" and not stored(world.api, "azaion.cc87.engine")
    second, _ = acquire_backend(world.acquirer("edge@x.io"), GPU, InferenceOptions())
    assert second.origin == "local cache" and second.payload == first.payload


def test_the_edge_cache_is_private_whatever_the_umask(world, monkeypatch):
    import os
    import stat

    install(monkeypatch)
    world.publish(world.onnx, "azaion.onnx")
    old = os.umask(0o022)
    try:
        acquire_backend(world.acquirer("edge@x.io"), GPU, InferenceOptions())  # fetches ONNX, builds an engine
    finally:
        os.umask(old)
    cache = world.tmp / "cache"
    files = list(cache.iterdir())
    assert {p.name.split(".")[-1] for p in files} >= {"big", "local"}  # the ONNX's big part, the engine built here
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}


def test_a_published_engine_for_another_tensorrt_is_rebuilt_here(world, monkeypatch, tmp_path):
    install(monkeypatch)
    world.publish(world.onnx, "azaion.onnx")
    foreign = tmp_path / "foreign.engine"
    foreign.write_bytes(make_bundle({"names": {"0": "person"}}, b"engine of another TensorRT"))
    world.publish(foreign, "azaion.cc87.engine")
    model, backend = acquire_backend(world.acquirer("edge@x.io"), GPU, InferenceOptions())
    assert model.origin == "built here" and backend.name == "tensorrt"


def test_rockchip_prefers_rknn_and_falls_back_to_onnx(world, monkeypatch, tmp_path):
    install(monkeypatch)
    world.publish(world.onnx, "azaion.onnx")
    board = Device(RKNN, "RK3588")
    assert world.acquirer("edge@x.io").acquire(board).format == "onnx"
    with pytest.raises(ModelError, match=r"azaion\.rknn is not published"):
        world.acquirer("edge@x.io").acquire(board, backend="rknn")
    rknn = tmp_path / "model.rknn"
    rknn.write_bytes(make_bundle({"imgsz": [128, 128], "batch": 4}, FAKE_RKNN + world.onnx.read_bytes()))
    world.publish(rknn, "azaion.rknn")
    model, backend = acquire_backend(world.acquirer("edge@x.io"), board, InferenceOptions())
    assert (model.format, backend.name) == ("rknn", "rknn")


def test_a_gpu_forced_to_tensorrt_needs_a_gpu(world):
    with pytest.raises(ModelError, match="needs an NVIDIA GPU"):
        world.acquirer("edge@x.io").acquire(Device(ONNX, "cpu"), backend="tensorrt")


def test_local_model_files_plain_or_encrypted(world, tmp_path):
    from azaion_shared.crypto import encrypt_file

    assert load_file(world.onnx, None).payload == world.onnx.read_bytes()
    encrypted = tmp_path / "azaion.onnx"
    encrypt_file(world.onnx, encrypted, world.key)
    assert load_file(encrypted, world.key).payload == world.onnx.read_bytes()
    with pytest.raises(ModelError, match="is encrypted"):
        load_file(encrypted, None)
    with pytest.raises(ModelError, match="cannot read"):
        load_file(tmp_path / "missing.onnx", None)
    assert FAKE_ENGINE  # the fakes module is importable without installing it
