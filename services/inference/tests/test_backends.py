"""Backends: ONNX Runtime for real; TensorRT and RKNN with their runtimes replaced at the boundary."""

from __future__ import annotations

import numpy as np
import pytest
from edge_fakes import FAKE_ENGINE, FAKE_RKNN, FakeBuilder, FakeRKNNLite, hide_sdks, install, runtime
from photos import frames

from azaion_shared.model_info import make_bundle, split_bundle
from inference.backends.onnx import OnnxRuntimeBackend
from inference.errors import BackendUnavailable, ModelError
from inference.letterbox import letterbox


def batch_of(count: int, size=(128, 128)) -> np.ndarray:
    return np.stack([letterbox(frame, size)[0] for frame in frames(count)])


@pytest.fixture(scope="module")
def onnx_b4(tiny_model) -> bytes:
    return tiny_model.onnx(128, 4).read_bytes()


@pytest.fixture(scope="module")
def onnx_dynamic(tiny_model) -> bytes:
    return tiny_model.onnx(128, 4, dynamic=True).read_bytes()


def test_onnxruntime_fixed_and_dynamic_batch(onnx_b4, onnx_dynamic):
    fixed = OnnxRuntimeBackend(onnx_b4)
    assert (fixed.batch, fixed.fixed_batch, fixed.input_size) == (4, True, (128, 128))
    assert fixed.info.names[0] == "person" and fixed.info.imgsz == (128, 128)
    dynamic = OnnxRuntimeBackend(onnx_dynamic)
    assert (dynamic.batch, dynamic.fixed_batch) == (4, False)
    images = batch_of(3)
    out_fixed, out_dynamic = fixed.infer(images), dynamic.infer(images)
    assert out_fixed.shape == (3, 4 + len(fixed.info.names), 336) and out_fixed.dtype == np.float32
    np.testing.assert_allclose(out_fixed, out_dynamic, atol=1e-4)
    with pytest.raises(ValueError, match="batch of 5"):
        fixed.infer(batch_of(5))


def test_a_tried_model_serves_from_its_optimised_graph_with_the_same_output(onnx_b4, onnx_dynamic):
    """A fleet swap's preparation: the graph ONNX Runtime optimised in the trial session, opened without
    optimising it again, gives the model's own output; the optimised graph is ONNX Runtime's (it differs
    from what went in)."""
    for model in (onnx_b4, onnx_dynamic):
        optimized = OnnxRuntimeBackend.tried(model)
        assert optimized and optimized != model
        served, reference = OnnxRuntimeBackend(optimized, optimized=True), OnnxRuntimeBackend(model)
        assert (served.batch, served.input_size, served.info) == (reference.batch, reference.input_size, reference.info)
        images = batch_of(4)
        np.testing.assert_allclose(served.infer(images), reference.infer(images), atol=1e-4)


def test_onnxruntime_opens_a_model_in_memory_as_an_anonymous_file(onnx_b4, monkeypatch):
    """Decrypted bytes reach ONNX Runtime as a memfd path (RAM only; ONNX Runtime parses a path without
    holding the GIL, where from bytes it held it up to 9 ms in one piece)."""
    import onnxruntime as ort

    given, real = [], ort.InferenceSession
    monkeypatch.setattr(ort, "InferenceSession", lambda model, **k: given.append(model) or real(model, **k))
    OnnxRuntimeBackend(onnx_b4)
    assert len(given) == 1 and given[0].startswith("/proc/self/fd/")


def test_onnxruntime_refuses_a_broken_model():
    with pytest.raises(ModelError, match="ONNX Runtime cannot load"):
        OnnxRuntimeBackend(b"\x08\x01garbage")


def test_tensorrt_and_rknn_say_what_is_missing_without_their_runtimes(monkeypatch):
    from inference.backends import rknn, tensorrt

    hide_sdks(monkeypatch, "tensorrt", "cuda", "cuda.bindings", "cuda.bindings.runtime", "rknnlite", "rknnlite.api")
    ok, why = tensorrt.available()
    assert not ok and "JetPack" in why
    with pytest.raises(BackendUnavailable, match="JetPack"):
        tensorrt.TensorRTBackend(b"engine")
    ok, why = rknn.available()
    assert not ok and "rknn-toolkit-lite2" in why
    with pytest.raises(BackendUnavailable, match="librknnrt"):
        rknn.RknnBackend(b"model")


def test_the_rknn_runtime_library_is_looked_for_on_the_system(monkeypatch):
    """rknn-toolkit-lite2 present (the fake here), librknnrt.so not: the reason names the library and where a
    board's comes from; a library that loads is no reason."""
    from azaion_shared.vendors import rknn as vendor

    real_check = vendor.runtime_missing
    install(monkeypatch)
    monkeypatch.setattr(vendor, "RUNTIME_LIBRARY", "libazaion-no-such-runtime.so")
    why = real_check()
    assert why and "libazaion-no-such-runtime.so is not on this system" in why and "docker-compose.rockchip" in why
    monkeypatch.setattr(vendor, "RUNTIME_LIBRARY", "libc.so.6")
    assert real_check() is None


@pytest.mark.parametrize("sdk", ["fake", "real"])
@pytest.mark.parametrize("dynamic", [False, True])
def test_tensorrt_backend_matches_onnxruntime(monkeypatch, onnx_b4, onnx_dynamic, dynamic, sdk):
    cudart = runtime(sdk, monkeypatch)
    from inference.backends.tensorrt import TensorRTBackend, build_engine

    onnx = onnx_dynamic if dynamic else onnx_b4
    reference = OnnxRuntimeBackend(onnx)
    backend = TensorRTBackend(build_engine(onnx, fp16=False, max_batch=4))
    assert (backend.batch, backend.fixed_batch, backend.input_size) == (4, not dynamic, (128, 128))
    assert backend.info.names == reference.info.names
    tolerance = {"atol": 1e-5} if cudart is not None else {"atol": 0.05, "rtol": 0.01}  # a real GPU: TF32 sums
    for count in (4, 3, 1):
        images = batch_of(count)
        np.testing.assert_allclose(backend.infer(images), reference.infer(images), **tolerance)
    if cudart is not None:  # what only the fake can count
        # buffers allocated once: one input and one output on the device, pinned host buffers alike
        assert len(cudart.device) == 2 and len(cudart.host) == 2
        in_bytes = 3 * 128 * 128 * 4
        h2d = [n for kind, n in cudart.copies if kind == cudart.cudaMemcpyKind.cudaMemcpyHostToDevice]
        # a fixed engine always gets its full batch (padded); a dynamic one exactly the images it was given
        assert h2d == ([4 * in_bytes] * 3 if not dynamic else [4 * in_bytes, 3 * in_bytes, 1 * in_bytes])
    backend.close()
    if cudart is not None:
        assert not cudart.device and not cudart.host


@pytest.mark.parametrize("sdk", ["fake", "real"])
def test_tensorrt_refuses_an_engine_of_another_gpu(monkeypatch, sdk):
    runtime(sdk, monkeypatch)
    from inference.backends.tensorrt import TensorRTBackend

    with pytest.raises(ModelError, match="another GPU or TensorRT version"):
        TensorRTBackend(b"an engine serialized elsewhere")


def test_build_engine_fp16_with_a_batch_profile(monkeypatch, onnx_dynamic, onnx_b4):
    install(monkeypatch)
    from inference.backends.tensorrt import TensorRTBackend, build_engine

    FakeBuilder.built.clear()
    engine = build_engine(onnx_dynamic, fp16=True, max_batch=4)
    meta, payload = split_bundle(engine)
    assert payload.startswith(FAKE_ENGINE) and meta["names"]["0"] == "person" and meta["fp16"] is True
    _network, config = FakeBuilder.built[-1]
    assert "fp16" in config.flags
    ((_name, shapes),) = config.profiles[0].shapes.items()
    assert shapes == ((1, 3, 128, 128), (4, 3, 128, 128), (4, 3, 128, 128))
    assert TensorRTBackend(engine).info.names[0] == "person"
    build_engine(onnx_b4, fp16=False)  # a static ONNX: no profile, no FP16
    _, config = FakeBuilder.built[-1]
    assert not config.profiles and not config.flags
    with pytest.raises(ModelError, match="cannot parse"):
        build_engine(b"not onnx")


def test_rknn_backend_loads_from_memory_and_matches_onnxruntime(monkeypatch, onnx_b4):
    install(monkeypatch)
    from inference.backends.rknn import RknnBackend

    reference = OnnxRuntimeBackend(onnx_b4)
    meta = reference.info.to_json()
    backend = RknnBackend(make_bundle(meta, FAKE_RKNN + onnx_b4))
    assert FakeRKNNLite.loaded_from[-1].startswith("/proc/self/fd/")  # an in-memory file, not a disk path
    assert (backend.batch, backend.input_size) == (4, (128, 128))
    images = batch_of(2)
    np.testing.assert_allclose(backend.infer(images), reference.infer(images), atol=1e-5)
    rknn = backend.lite
    backend.close()
    assert rknn.released
    with pytest.raises(ModelError, match="could not load"):
        RknnBackend(b"not an rknn model")


@pytest.mark.parametrize("kind", ["tensorrt-fake", "tensorrt-real", "rknn-fake"])
def test_tiles_run_on_every_backend_with_the_same_detections(monkeypatch, onnx_b4, kind):
    """Tiles are batched through whatever backend runs: the detections equal ONNX Runtime's."""
    from inference.pipeline import Pipeline
    from inference.source import Frame

    if kind.startswith("tensorrt"):
        runtime(kind.split("-")[1], monkeypatch)
        from inference.backends.tensorrt import TensorRTBackend, build_engine

        backend = TensorRTBackend(build_engine(onnx_b4, fp16=False, max_batch=4))
    else:
        install(monkeypatch)
        from inference.backends.rknn import RknnBackend

        backend = RknnBackend(make_bundle(OnnxRuntimeBackend(onnx_b4).info.to_json(), FAKE_RKNN + onnx_b4))
    images = frames(3, (640, 360))
    found = {}
    for name, runner in (("onnxruntime", OnnxRuntimeBackend(onnx_b4)), (kind, backend)):
        seen = []
        pipeline = Pipeline(runner, [], tiles="2x3", on_frame=lambda f, d, seen=seen: seen.append(d))
        stats = pipeline.run(Frame(i, 0.0, image) for i, image in enumerate(images))
        assert stats.views == 3 * 7  # 2 x 3 tiles and the whole frame, batched 4 at a time
        found[name] = seen
        runner.close()
    atol = 0.5 if kind == "tensorrt-real" else 1e-3  # a real GPU sums in TF32
    for ours, reference in zip(found[kind], found["onnxruntime"], strict=True):
        assert len(ours) == len(reference)
        np.testing.assert_allclose(ours.boxes, reference.boxes, atol=atol)
        assert (ours.classes == reference.classes).all()
    assert sum(len(d) for d in found["onnxruntime"]) > 0, "the tiny model should find something to compare"
