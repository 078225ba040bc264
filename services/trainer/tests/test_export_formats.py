"""Export formats: the table and its checks; TensorRT with its runtime replaced at the boundary;
RKNN converted for real with rknn-toolkit2 (make rknn-env) and checked in its simulator."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from edge_fakes import FAKE_ENGINE, FakeBuilder, FakeCudart, install

from azaion_shared.model_info import split_bundle
from azaion_shared.paths import DataRoot
from trainer import export, formats
from trainer.errors import ExportError


def test_the_table_has_the_production_defaults():
    onnx, trt, rknn = formats.FORMATS["onnx"], formats.FORMATS["tensorrt"], formats.FORMATS["rknn"]
    assert (onnx.batch, onnx.precision) == (4, "fp32")
    assert (trt.batch, trt.precision) == (4, "fp16")
    assert (rknn.target, rknn.precision, rknn.batch) == ("rk3588", "fp16", 1)
    request = formats.resolve("tensorrt", 1280)
    assert request.describe() == "tensorrt (1280 px, batch 4, fp16)"
    assert "rk3588" in formats.table()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("webp", 640), "unknown export format 'webp'"),
        (("onnx", 650), "multiple of 32"),
        (("onnx", 16), "multiple of 32"),
        (("tensorrt", 640, 8), r"batch must be within 1\.\.4"),
        (("rknn", 640, 2), r"batch must be within 1\.\.1"),
        (("onnx", 640, None, "fp16"), "needs a GPU"),
        (("tensorrt", 640, None, "int8"), "calibrator"),
        (("rknn", 640, None, "fp32"), "fp16 or int8"),
        (("onnx", 640, None, None, "rk3588"), "only for rknn"),
        (("rknn", 640, None, None, "rk9999"), "unknown target 'rk9999'"),
    ],
)
def test_bad_combinations_are_refused(args, message):
    with pytest.raises(ExportError, match=message):
        formats.resolve(*args)


def test_int8_rknn_asks_for_calibration_images():
    assert formats.resolve("rknn", 640, precision="int8", calibration_images=50).calibration_images == 50
    with pytest.raises(ExportError, match="calibration"):
        formats.resolve("rknn", 640, precision="int8", calibration_images=0)


@pytest.fixture
def promoted(tmp_path, tiny_model) -> tuple[DataRoot, Path]:
    root = DataRoot(tmp_path / "root").ensure()
    weights = root.models / "azaion.pt"
    weights.write_bytes(tiny_model.weights.read_bytes())
    return root, weights


@pytest.mark.slow
def test_onnx_export_writes_metadata_inside_and_beside(promoted):
    root, weights = promoted
    done = export.export(root, weights, "run-1", formats.resolve("onnx", 128, 4))
    assert done.path == root.models / "azaion.onnx" and done.resource == "azaion.onnx"
    side = json.loads((root.models / "azaion.onnx.json").read_text())
    assert side["version"] == "run-1" and side["batch"] == 4 and side["names"]["0"] == "person"
    assert side["seconds"] >= 0 and side["precision"] == "fp32"


def test_tensorrt_needs_a_gpu_here(promoted, monkeypatch):
    from azaion_shared.vendors import tensorrt

    monkeypatch.setattr(tensorrt, "compute_capability", lambda device=0: None)  # a host without a GPU, anywhere
    root, weights = promoted
    with pytest.raises(ExportError, match="no NVIDIA GPU"):
        export.export(root, weights, "run-1", formats.resolve("tensorrt", 128))


@pytest.mark.slow
def test_tensorrt_export_with_the_runtime_replaced(promoted, monkeypatch):
    cudart = install(monkeypatch, FakeCudart(major=8, minor=6))
    root, weights = promoted
    FakeBuilder.built.clear()
    done = export.export(root, weights, "run-2", formats.resolve("tensorrt", 128, 4))
    assert done.path == root.models / "azaion.cc86.engine" and done.resource == "azaion.cc86.engine"
    meta, payload = split_bundle(done.path.read_bytes())
    assert payload.startswith(FAKE_ENGINE) and meta["names"]["0"] == "person" and meta["fp16"] is True
    assert meta["azaion_version"] == "run-2" and meta["max_batch"] == 4
    _network, config = FakeBuilder.built[-1]
    ((_name, shapes),) = config.profiles[0].shapes.items()
    assert shapes == ((1, 3, 128, 128), (4, 3, 128, 128), (4, 3, 128, 128))  # dynamic batch 1..4
    # the engine runs in the inference service's TensorRT backend like ONNX Runtime runs the ONNX
    from inference.backends.onnx import OnnxRuntimeBackend
    from inference.backends.tensorrt import TensorRTBackend

    images = np.random.default_rng(0).integers(0, 255, (3, 128, 128, 3), dtype=np.uint8)
    with TensorRTBackend(done.path.read_bytes()) as engine:
        assert engine.info.names[0] == "person" and (engine.batch, engine.fixed_batch) == (4, False)
        reference = OnnxRuntimeBackend(payload[len(FAKE_ENGINE) :])
        np.testing.assert_allclose(engine.infer(images), reference.infer(images), atol=1e-5)
    assert not cudart.device


def test_rknn_without_the_toolkit_says_how_to_get_it(promoted, tmp_path):
    root, weights = promoted
    with pytest.raises(ExportError, match="make rknn-env"):
        export.export(root, weights, "r", formats.resolve("rknn", 128), rknn_python=tmp_path / "no-python")


@pytest.fixture(scope="module")
def quiet_model(tmp_path_factory):
    """The tiny configuration as the trainer runs it (3 epochs, default learning rate)."""
    from tiny_model import TinyModel

    return TinyModel(tmp_path_factory.mktemp("quiet-model")).train(epochs=3, optimizer="auto", lr0=0.01)


@pytest.mark.slow
def test_rknn_conversion_and_simulator_agree_with_onnxruntime(tmp_path, quiet_model):
    rknn_python = Path(os.environ.get("AZAION_TRAINER__RKNN_PYTHON", ".venv-rknn/bin/python"))
    assert rknn_python.exists(), f"{rknn_python} is missing: `make rknn-env` installs rknn-toolkit2 (make test does)"
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "support"))
    root = DataRoot(tmp_path / "root").ensure()
    weights = root.models / "azaion.pt"
    weights.write_bytes(quiet_model.weights.read_bytes())
    samples = sorted((quiet_model.workdir / "dataset" / "images" / "train").glob("*.jpg"))
    request = formats.resolve("rknn", 128)
    done = export.export(root, weights, "run-3", request, rknn_python=rknn_python, samples=samples)
    assert done.path == root.models / "azaion.rknn" and done.resource == "azaion.rknn"
    meta, payload = split_bundle(done.path.read_bytes())
    assert meta["names"]["0"] == "person" and meta["imgsz"] == [128, 128] and len(payload) > 100_000
    check = done.meta["simulator_check"]
    assert check["images"] == 4 and check["passed"], check
    assert check["max_box_difference_px"] <= 1.28 and check["max_score_difference_raw"] <= 0.01
    assert done.meta["toolkit"] == "2.3.2"
    side = json.loads((root.models / "azaion.rknn.json").read_text())
    assert side["target"] == "rk3588" and side["precision"] == "fp16"


@pytest.mark.slow
def test_rknn_int8_is_calibrated_on_dataset_images(tmp_path, quiet_model):
    rknn_python = Path(os.environ.get("AZAION_TRAINER__RKNN_PYTHON", ".venv-rknn/bin/python"))
    assert rknn_python.exists(), f"{rknn_python} is missing: `make rknn-env` installs rknn-toolkit2 (make test does)"
    root = DataRoot(tmp_path / "root").ensure()
    weights = root.models / "azaion.pt"
    weights.write_bytes(quiet_model.weights.read_bytes())
    samples = sorted((quiet_model.workdir / "dataset" / "images" / "train").glob("*.jpg"))
    request = formats.resolve("rknn", 128, precision="int8", calibration_images=8)
    done = export.export(root, weights, "run-4", request, rknn_python=rknn_python, samples=samples)
    assert done.meta["precision"] == "int8" and done.path.stat().st_size > 10_000
    check = done.meta["simulator_check"]
    # INT8 moves outputs more than FP16; the check measures it (and warns when outside the tolerance)
    assert check["images"] == 4 and np.isfinite(check["max_box_difference_px"])
    with pytest.raises(ExportError, match="calibration images"):
        export.export(root, weights, "run-5", request, rknn_python=rknn_python, samples=[])
