"""TensorRT engines: built from an ONNX model here, carried with their metadata (a *bundle*).

Used by the trainer (``python -m trainer export --format tensorrt`` on a GPU server) and by the
inference service (an engine for the device's own GPU when none is published). Written against
the TensorRT 10 Python API (JetPack 6 ships 10.3): builder from ONNX, FP16 when asked, one
optimisation profile for batch 1..max when the ONNX batch is dynamic.

A bundle is how ultralytics writes metadata into an engine: a 4-byte little-endian length, that
many bytes of JSON, then the payload. RKNN models are published the same way.
"""

from __future__ import annotations

import ast
import json
import logging
import time
from typing import Any

from azaion_shared.errors import AzaionError

log = logging.getLogger(__name__)

_MAX_META = 1 << 20


class EngineError(AzaionError):
    """TensorRT is missing here, or cannot parse or build the model."""


def make_bundle(meta: dict[str, Any], payload: bytes) -> bytes:
    """``len(json) (4 bytes LE) + json + payload``."""
    text = json.dumps(meta).encode()
    return len(text).to_bytes(4, "little") + text + payload


def split_bundle(blob: bytes) -> tuple[dict[str, Any] | None, bytes]:
    """(metadata, payload) of a bundle; (None, blob) when there is no metadata in front."""
    if len(blob) < 6:
        return None, blob
    size = int.from_bytes(blob[:4], "little")
    if not 2 <= size <= min(_MAX_META, len(blob) - 4) or blob[4:5] != b"{":
        return None, blob
    try:
        meta = json.loads(blob[4 : 4 + size].decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, blob
    return (meta, blob[4 + size :]) if isinstance(meta, dict) else (None, blob)


def onnx_metadata(onnx_model: bytes) -> dict[str, Any]:
    """The ONNX model's metadata (ultralytics writes names, imgsz, batch as Python literals)."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise EngineError(f"ONNX Runtime cannot read the model: {exc}") from exc
    meta: dict[str, Any] = {}
    for key, value in session.get_modelmeta().custom_metadata_map.items():
        try:
            meta[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            meta[key] = value
    if isinstance(meta.get("names"), dict):
        meta["names"] = {str(k): v for k, v in meta["names"].items()}
    return meta


def tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise EngineError(
            f"TensorRT is not installed ({exc}): on a Jetson it comes with JetPack (python3-libnvinfer); on an "
            "x86-64 GPU server pip install tensorrt-cu12==10.13.0.35 (azaion-inference[tensorrt])"
        ) from exc
    return trt


def build_engine(onnx_model: bytes, fp16: bool = True, max_batch: int = 4, workspace_gib: float = 2.0) -> bytes:
    """A serialized engine for this GPU, with the ONNX model's metadata in front (a bundle)."""
    trt = tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if int(trt.__version__.split(".")[0]) < 10:  # explicit batch is the only mode from TensorRT 10 on
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_model):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"TensorRT cannot parse the ONNX model: {errors}")
    meta = onnx_metadata(onnx_model)
    imgsz = meta.get("imgsz")
    imgsz = (imgsz, imgsz) if isinstance(imgsz, int) else tuple(imgsz) if imgsz else None
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if fp16:
        if hasattr(trt.BuilderFlag, "FP16"):
            config.set_flag(trt.BuilderFlag.FP16)
        else:
            log.warning("TensorRT %s has no FP16 flag (strong typing): building with the ONNX types", trt.__version__)
    tensor = network.get_input(0)
    shape = tuple(tensor.shape)
    if -1 in shape:  # one profile: batch 1..max_batch at the image size the model was exported for
        if -1 in shape[2:] and not imgsz:
            raise EngineError("the ONNX model has a dynamic image size and no imgsz in its metadata")
        rest = tuple(d if d != -1 else s for d, s in zip(shape[1:], (3, *(imgsz or (0, 0))), strict=True))
        profile = builder.create_optimization_profile()
        profile.set_shape(tensor.name, (1, *rest), (max_batch, *rest), (max_batch, *rest))
        config.add_optimization_profile(profile)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError("TensorRT could not build an engine from the ONNX model (see its log above)")
    log.info(
        "built a TensorRT %s engine (input %s, fp16 %s) in %.0f s",
        trt.__version__,
        shape,
        fp16,
        time.perf_counter() - started,
    )
    extra = {"tensorrt": trt.__version__, "fp16": fp16, "max_batch": max_batch}
    return make_bundle(
        {k: v for k, v in meta.items() if k in ("names", "imgsz", "batch", "azaion_version")} | extra, bytes(serialized)
    )
