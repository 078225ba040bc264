"""The device's way from a release to a running backend, against the real api service: the store (fetch,
verify, decrypt; nothing of hardware) and each backend's choice of artifact on every kind of device
(building an engine where it must), with the fake SDKs of tests/support/edge_fakes where hardware is absent."""

from __future__ import annotations

import pytest
from edge_fakes import FAKE_ENGINE, FAKE_RKNN, install
from release_kit import PASSWORD, Kit, artifact_file, forge_big_part, onnx_file

from azaion_shared.cdn import LocalStorage
from azaion_shared.crypto import MAGIC, generate_key, parse_key
from azaion_shared.distribution import big_name, small_name
from azaion_shared.errors import ChecksumMismatchError, DecryptionError
from azaion_shared.model_formats import ONNX, RKNN, TENSORRT
from azaion_shared.model_info import make_bundle
from inference.backends import rknn as rknn_backend
from inference.device import Device
from inference.errors import ModelError
from inference.release_cache import ReleaseCache
from inference.runtime import acquire_backend
from inference.settings import InferenceOptions
from inference.store import ReleaseStore, load_file

GPU = Device(TENSORRT, "fake GPU", "87")
CPU = Device(ONNX, "cpu")


@pytest.fixture
def world(api_server, tmp_path, tiny_model):
    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("edge@x.io", PASSWORD, "Device")
    kit = Kit(
        api_server.url, LocalStorage(tmp_path / "cdn"), parse_key(generate_key()), tmp_path / "keys", api_server.trust
    )

    class World:
        def store(self, cache="cache"):
            return ReleaseStore(kit.key, kit.client("edge@x.io"), ReleaseCache(tmp_path / cache))

        def run(self, release, device, **options):
            """(model, backend name) of the release on this device, the backend closed again."""
            model, backend = acquire_backend(self.store(), release, device, InferenceOptions(**options))
            backend.close()
            return model, backend.name

    world = World()
    world.kit, world.onnx, world.tmp, world.api = kit, tiny_model.onnx(128, 4), tmp_path, api_server
    world.cdn_dir = tmp_path / "cdn"
    return world


def published_files(world) -> set[str]:
    return {p.name for p in world.cdn_dir.iterdir()} | {p.name for p in world.api.root.rglob("*.small")}


def test_a_release_without_the_fallback_onnx_is_a_clear_error(world, tmp_path):
    rknn = tmp_path / "model.rknn"
    rknn.write_bytes(make_bundle({"imgsz": [128, 128], "batch": 4}, FAKE_RKNN + world.onnx.read_bytes()))
    release = world.kit.release(artifact_file(rknn, "azaion.rknn", "rknn"))
    with pytest.raises(ModelError, match=r"release 1 has no ONNX model"):
        world.run(release, CPU)


def test_a_cpu_device_gets_the_onnx_model_in_memory(world):
    release = world.kit.release(onnx_file(world.onnx))
    model, backend = world.run(release, CPU)
    assert (model.name, model.format, model.origin, model.version) == ("azaion.v1.onnx", "onnx", "published", 1)
    assert backend == "onnxruntime"
    assert model.payload == world.onnx.read_bytes()
    cached = [p for p in (world.tmp / "cache").rglob("*") if p.is_file()]
    assert {p.name for p in cached} == {"azaion.v1.onnx.small", "azaion.v1.onnx.big"}
    assert all(p.read_bytes() not in model.payload for p in cached)  # encrypted parts only


def test_a_wrong_key_is_refused_with_a_hint(world):
    release = world.kit.release(onnx_file(world.onnx))
    store = world.store()
    store.key = parse_key(generate_key())
    with pytest.raises(DecryptionError, match="AZAION_MODEL_KEY"):
        store.model(release, release.artifacts[0])


def test_a_forged_big_part_with_a_valid_mac_is_refused_by_its_signed_hash(world):
    """The attack of issue 17: the model key is on every device, so anyone holding one can make a big part
    that decrypts; only the signed manifest's SHA-256 tells it from the published one."""
    release = world.kit.release(onnx_file(world.onnx))
    resource = release.artifacts[0].resource
    small = (world.api.root / "api" / "resources" / small_name(resource)).read_bytes()
    big_path = world.cdn_dir / big_name(resource)
    forged = forge_big_part(small, big_path.read_bytes(), world.kit.key)
    world.kit.cdn.upload(big_name(resource), _written(world.tmp / "forged", forged))  # CDN write access
    with pytest.raises(ChecksumMismatchError, match=r"is not the .* the signed release says"):
        world.store().model(release, release.artifacts[0])
    assert not list((world.tmp / "cache").rglob("*.big"))  # nothing forged is kept


def test_a_small_part_that_is_not_the_signed_one_is_refused(world):
    release = world.kit.release(onnx_file(world.onnx))
    stored = world.api.root / "api" / "resources" / small_name(release.artifacts[0].resource)
    data = bytearray(stored.read_bytes())
    data[40] ^= 1
    stored.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match=r"small part from the api .* is not the one the release signed"):
        world.store().model(release, release.artifacts[0])


def test_a_broken_download_resumes_where_it_stopped(world):
    """The .part file is kept and continued with a Range request: shown by a corrupted prefix, which a full
    download would have overwritten, being caught by the hash and thrown away."""
    release = world.kit.release(onnx_file(world.onnx))
    artifact = release.artifacts[0]
    store = world.store()
    folder = store.cache.release_dir(1)
    genuine = (world.cdn_dir / big_name(artifact.resource)).read_bytes()
    part = folder / (big_name(artifact.resource) + ".part")
    part.write_bytes(genuine[: len(genuine) // 2])
    assert store.model(release, artifact).payload == world.onnx.read_bytes()  # continued, whole, verified
    (folder / big_name(artifact.resource)).unlink()
    part.write_bytes(b"x" * (len(genuine) // 2))  # a prefix that is not the part's
    with pytest.raises(ChecksumMismatchError, match="SHA-256"):
        store.model(release, artifact)
    assert not part.exists()  # the next try starts clean
    assert store.model(release, artifact).payload == world.onnx.read_bytes()


def test_gpu_without_an_engine_builds_it_caches_it_encrypted_and_never_publishes_it(world, monkeypatch):
    install(monkeypatch)
    release = world.kit.release(onnx_file(world.onnx))
    before = published_files(world)
    model, backend = acquire_backend(world.store(), release, GPU, InferenceOptions())
    assert (model.name, model.origin, backend.name) == ("azaion.cc87.engine", "built here", "tensorrt")
    onnx_sha = release.artifact("onnx").plaintext_sha256
    (engine,) = (world.tmp / "cache" / "engines").iterdir()
    assert engine.name == f"{onnx_sha[:16]}-trt10.3.0-cc87.engine"  # signed ONNX hash, TensorRT version, GPU
    assert engine.read_bytes().startswith(MAGIC)  # cached encrypted
    assert published_files(world) == before  # a device never publishes what it built
    second, _ = acquire_backend(world.store(), release, GPU, InferenceOptions())
    assert second.origin == "local cache" and second.payload == model.payload


def test_the_edge_cache_is_private_whatever_the_umask(world, monkeypatch):
    import os
    import stat

    install(monkeypatch)
    release = world.kit.release(onnx_file(world.onnx))
    old = os.umask(0o022)
    try:
        acquire_backend(world.store(), release, GPU, InferenceOptions())  # fetches ONNX, builds an engine
    finally:
        os.umask(old)
    cache = world.tmp / "cache"
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert {p.name.split(".")[-1] for p in files} >= {"big", "small", "engine"}
    assert {stat.S_IMODE(p.stat().st_mode) for p in cache.rglob("*") if p.is_dir()} | {
        stat.S_IMODE(cache.stat().st_mode)
    } == {0o700}
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}


def test_a_released_engine_for_another_tensorrt_is_rebuilt_here(world, monkeypatch, tmp_path):
    install(monkeypatch)
    foreign = tmp_path / "foreign.engine"
    foreign.write_bytes(make_bundle({"names": {"0": "person"}}, b"engine of another TensorRT"))
    engine = artifact_file(foreign, "azaion.cc87.engine", "tensorrt", compute_capability="87")
    release = world.kit.release(onnx_file(world.onnx), engine)
    assert release.artifact("tensorrt", "87").resource == "azaion.cc87.v1.engine"
    model, backend = acquire_backend(world.store(), release, GPU, InferenceOptions())
    assert model.origin == "built here" and backend.name == "tensorrt"


def test_rockchip_prefers_rknn_and_falls_back_to_onnx(world, monkeypatch, tmp_path):
    install(monkeypatch)
    board = Device(RKNN, "RK3588")
    first = world.kit.release(onnx_file(world.onnx))
    assert world.run(first, board)[0].format == "onnx"
    with pytest.raises(ModelError, match=r"release 1 has no RKNN model"):
        world.run(first, board, backend="rknn")
    rknn = tmp_path / "model.rknn"
    rknn.write_bytes(make_bundle({"imgsz": [128, 128], "batch": 4}, FAKE_RKNN + world.onnx.read_bytes()))
    second = world.kit.release(onnx_file(world.onnx), artifact_file(rknn, "azaion.rknn", "rknn"))
    model, backend = world.run(second, board)
    assert (model.format, model.name, backend) == ("rknn", "azaion.v2.rknn", "rknn")


def test_without_the_boards_rknn_runtime_a_rockchip_device_runs_onnx_and_says_why(world, tmp_path, caplog, monkeypatch):
    rknn = tmp_path / "model.rknn"
    rknn.write_bytes(make_bundle({"imgsz": [128, 128], "batch": 4}, FAKE_RKNN + world.onnx.read_bytes()))
    release = world.kit.release(onnx_file(world.onnx), artifact_file(rknn, "azaion.rknn", "rknn"))
    missing = "librknnrt.so is not on this system (cannot open shared object file)"
    monkeypatch.setattr(rknn_backend, "runtime_missing", lambda: missing)
    for backend in ("auto", "rknn"):  # the rockchip image forces rknn: it falls back all the same
        caplog.clear()
        model, _name = world.run(release, Device(RKNN, "RK3588"), backend=backend)
        assert (model.format, model.name) == ("onnx", "azaion.v1.onnx")
        assert "RKNN cannot run here: librknnrt.so is not on this system" in caplog.text
        assert "ONNX Runtime" in caplog.text


def test_a_gpu_forced_to_tensorrt_needs_a_gpu(world):
    release = world.kit.release(onnx_file(world.onnx))
    with pytest.raises(ModelError, match="needs an NVIDIA GPU"):
        world.run(release, CPU, backend="tensorrt")


def _written(path, data: bytes):
    path.write_bytes(data)
    return path


def test_local_model_files_plain_or_encrypted(world, tmp_path):
    from azaion_shared.crypto import encrypt_file

    assert load_file(world.onnx, None).payload == world.onnx.read_bytes()
    encrypted = tmp_path / "azaion.onnx"
    encrypt_file(world.onnx, encrypted, world.kit.key)
    assert load_file(encrypted, world.kit.key).payload == world.onnx.read_bytes()
    with pytest.raises(ModelError, match="is encrypted"):
        load_file(encrypted, None)
    with pytest.raises(ModelError, match="cannot read"):
        load_file(tmp_path / "missing.onnx", None)
    assert FAKE_ENGINE  # the fakes module is importable without installing it


@pytest.mark.parametrize(
    "device, expected",
    [
        (Device(ONNX, "cpu"), ("onnx", "azaion.v1.onnx", "published", "onnxruntime")),
        (Device(TENSORRT, "Jetson Orin", "87"), ("tensorrt", "azaion.cc87.v1.engine", "published", "tensorrt")),
        (Device(TENSORRT, "RTX 3090", "86"), ("tensorrt", "azaion.cc86.engine", "built here", "tensorrt")),
        (Device(RKNN, "RK3588"), ("rknn", "azaion.v1.rknn", "published", "rknn")),
    ],
    ids=["cpu", "gpu-with-its-engine", "gpu-another-capability", "rk3588"],
)
def test_each_kind_of_device_gets_its_artifact_of_one_release(world, monkeypatch, tmp_path, device, expected):
    """One release with an ONNX model, an engine for compute capability 8.7 and an RKNN model: each device
    runs what suits it, on its backend (the SDKs are the fakes where the hardware is absent)."""
    install(monkeypatch)
    engine = tmp_path / "azaion.cc87.engine"
    engine.write_bytes(make_bundle({"imgsz": [128, 128], "batch": 4}, FAKE_ENGINE + world.onnx.read_bytes()))
    rknn = tmp_path / "model.rknn"
    rknn.write_bytes(make_bundle({"imgsz": [128, 128], "batch": 4}, FAKE_RKNN + world.onnx.read_bytes()))
    release = world.kit.release(
        onnx_file(world.onnx),
        artifact_file(engine, "azaion.cc87.engine", "tensorrt", compute_capability="87"),
        artifact_file(rknn, "azaion.rknn", "rknn"),
    )
    model, backend = world.run(release, device)
    assert (model.format, model.name, model.origin, backend) == expected


def model_that_loads_but_does_not_run(path):
    """A valid graph with the YOLO input that fails on its first run: a reshape that cannot fit (the input's
    size is dynamic, so loading cannot tell)."""
    import onnx
    from onnx import TensorProto, helper

    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "h", "w"])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, None)
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [7, -1])  # 3072 values do not split by 7
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["images", "shape"], ["output0"])], "g", [images], [out], [shape]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"imgsz": "[32, 32]", "batch": "1"})
    onnx.save(model, path)
    return path


def test_the_trial_run_takes_the_lowest_priority_and_refuses_a_model_that_does_not_run(world, monkeypatch, tmp_path):
    """Issue 28's swap without a stutter: a serving session with worker threads is prepared by a
    single-threaded session at nice 19 that optimises and tries the model (the frames keep the CPU), then
    opened at the caller's priority (its worker threads, which serve frames later, are not starved) from
    the optimised graph without optimising it again; one without worker threads is made and tried
    entirely at nice 19."""
    import os
    import threading

    from azaion_shared.vendors import onnxruntime as vendor
    from inference.backends import onnx as onnx_backend

    def priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    seen = []
    tried, opened, ran = vendor.optimizing_session, vendor.open_session, onnx_backend.OnnxRuntimeBackend._run
    monkeypatch.setattr(vendor, "optimizing_session", lambda *a: seen.append(("try", priority())) or tried(*a))
    monkeypatch.setattr(vendor, "open_session", lambda *a: seen.append(("open", priority(), a[-1])) or opened(*a))
    monkeypatch.setattr(
        onnx_backend.OnnxRuntimeBackend, "_run", lambda self, *a: seen.append(("run", priority())) or ran(self, *a)
    )
    mine = priority()
    release = world.kit.release(onnx_file(world.onnx))
    assert world.run(release, CPU, runs=1)[1] == "onnxruntime"
    assert seen == [("try", 19), ("run", 19), ("open", mine, True)]
    # two runs at once of one thread each (``threads=1``): the serving session starts no worker threads,
    # so all of it happens at the lowest priority, in one session: opened (optimising), run twice (its
    # first runs are the slow ones)
    seen.clear()
    assert world.run(release, CPU, runs=2, threads=1)[1] == "onnxruntime"
    assert seen == [("open", 19, False), ("run", 19), ("run", 19)]

    broken = world.kit.release(onnx_file(model_that_loads_but_does_not_run(tmp_path / "broken.onnx"), 32, 1))
    with pytest.raises(ModelError, match="the model loads but does not run"):
        world.run(broken, CPU)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
