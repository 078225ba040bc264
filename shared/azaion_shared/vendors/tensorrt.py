"""TensorRT and cuda-python: the one place that imports them; engine building; the GPU's compute capability.

Used by the trainer (``python -m trainer export --format tensorrt`` on a GPU server) and by the edge
(an engine built for the device's own GPU when none is published, and the TensorRT backend, which
takes its ``tensorrt`` and ``cudart`` modules from :func:`modules`). Written against the TensorRT 10
Python API (JetPack 6 ships 10.3): builder from ONNX, FP16 when asked, one optimisation profile for
batch 1..max when the ONNX batch is dynamic. The engine carries the ONNX model's
:class:`~azaion_shared.model_info.ModelInfo` in front (a bundle).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time

from azaion_shared.board import device_tree
from azaion_shared.errors import ModelLoadError, RuntimeUnavailable
from azaion_shared.model_info import ModelInfo, make_bundle

log = logging.getLogger(__name__)

#: Jetson SoCs by their device-tree name, for when CUDA cannot be asked (no cuda-python yet).
TEGRA_CC = {"tegra264": "110", "tegra234": "87", "tegra194": "72", "tegra186": "62", "tegra210": "53"}

INSTALL_HINT = (
    "on a Jetson it comes with JetPack (python3-libnvinfer); on an x86-64 GPU server "
    "pip install 'azaion-inference[tensorrt]' (tensorrt-cu12==10.13.0.35)"
)


def tensorrt():
    """The ``tensorrt`` module (enough to build engines)."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise RuntimeUnavailable(f"TensorRT is not installed ({exc}): {INSTALL_HINT}") from exc
    return trt


def cudart():
    """cuda-python's runtime module (``cuda.bindings.runtime``, or ``cuda.cudart`` before 12.6)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError as exc:
            raise RuntimeUnavailable(f"cuda-python is not installed ({exc}): pip install cuda-python") from exc
    return runtime


def modules():
    """``(tensorrt, cudart)``: what running an engine needs."""
    return tensorrt(), cudart()


def cuda_call(runtime, result, what: str):
    """Unpack cuda-python's ``(error, value...)`` tuples, raising on an error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != runtime.cudaError_t.cudaSuccess:
        raise RuntimeUnavailable(f"CUDA {what} failed: {err}")
    return values[0] if len(values) == 1 else tuple(values) or None


def available() -> tuple[bool, str]:
    try:
        trt, runtime = modules()
        count = cuda_call(runtime, runtime.cudaGetDeviceCount(), "cudaGetDeviceCount")
    except RuntimeUnavailable as exc:
        return False, str(exc)
    if not count:
        return False, "no CUDA device"
    return True, f"TensorRT {trt.__version__}, {count} CUDA device(s)"


# --- which GPU ---------------------------------------------------------------------------------
def compute_capability(device: int = 0) -> str | None:
    """``"86"`` for an RTX 30xx, ``"87"`` for a Jetson Orin; None without an NVIDIA GPU.

    Asked of CUDA (cuda-python) first, then of ``nvidia-smi``, then, on a Jetson without
    cuda-python yet, read from the device tree's SoC name.
    """
    try:
        runtime = cudart()
        props = cuda_call(runtime, runtime.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
        return f"{props.major}{props.minor}"
    except RuntimeUnavailable:
        pass
    return _nvidia_smi_cc() or _tegra_cc()


def _nvidia_smi_cc() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=compute_cap,name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    first = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    cc = first.split(",")[0].strip()
    return cc.replace(".", "") if cc and cc[0].isdigit() else None


def _tegra_cc() -> str | None:
    compatible = device_tree()
    if "nvidia,tegra" not in compatible:
        return None
    return next((value for soc, value in TEGRA_CC.items() if soc in compatible), None)


# --- building ----------------------------------------------------------------------------------
def build_engine(onnx_model: bytes, fp16: bool = True, max_batch: int = 4, workspace_gib: float = 2.0) -> bytes:
    """A serialized engine for this GPU, with the ONNX model's ModelInfo in front (a bundle)."""
    from azaion_shared.vendors import onnxruntime

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
        raise ModelLoadError(f"TensorRT cannot parse the ONNX model: {errors}")
    info = ModelInfo.from_mapping(onnxruntime.metadata(onnx_model))
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
        if -1 in shape[2:] and not info.imgsz:
            raise ModelLoadError("the ONNX model has a dynamic image size and no imgsz in its metadata")
        rest = tuple(d if d != -1 else s for d, s in zip(shape[1:], (3, *(info.imgsz or (0, 0))), strict=True))
        profile = builder.create_optimization_profile()
        profile.set_shape(tensor.name, (1, *rest), (max_batch, *rest), (max_batch, *rest))
        config.add_optimization_profile(profile)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelLoadError("TensorRT could not build an engine from the ONNX model (see its log above)")
    log.info(
        "built a TensorRT %s engine (input %s, fp16 %s) in %.0f s",
        trt.__version__,
        shape,
        fp16,
        time.perf_counter() - started,
    )
    header = ModelInfo(
        names=info.names,
        imgsz=info.imgsz,
        batch=info.batch,
        version=info.version,
        precision="fp16" if fp16 else "fp32",
        format="tensorrt",
    ).to_json()
    return make_bundle(header | {"tensorrt": trt.__version__, "fp16": fp16, "max_batch": max_batch}, bytes(serialized))
