"""TensorRT with cuda-python: an engine deserialized from bytes, buffers allocated once, async copies.

Written against the TensorRT 10 Python API (JetPack 6 ships 10.3): I/O tensors by name,
``set_tensor_address`` and ``execute_async_v3`` on a CUDA stream. Host buffers are pinned, so the
copies are truly asynchronous. An engine only runs on the GPU (compute capability) and TensorRT
version it was built for; :func:`build_engine` makes one here from the ONNX model. The SDK modules
come from :mod:`azaion_shared.vendors.tensorrt`, the only module that imports them.
"""

from __future__ import annotations

import ctypes
import logging
import time

import numpy as np

from azaion_shared.model_formats import ONNX, TENSORRT
from azaion_shared.model_info import ModelInfo
from azaion_shared.vendors import tensorrt
from inference.backends.base import Backend, to_nchw, unbundle, warmed_up
from inference.errors import InferenceError, ModelError

log = logging.getLogger(__name__)


def _modules():
    return tensorrt.modules()


def available() -> tuple[bool, str]:
    return tensorrt.available()


def compute_capability() -> str | None:
    """This machine's NVIDIA GPU as ``87`` (Jetson Orin), or None without one."""
    return tensorrt.compute_capability()


def version() -> str:
    """The TensorRT version here: an engine runs only on the version (and GPU) it was built with."""
    return str(tensorrt.tensorrt().__version__)


_call = tensorrt.cuda_call


class _Pinned:
    """A page-locked host buffer seen as a numpy array."""

    def __init__(self, cudart, shape: tuple[int, ...], dtype: np.dtype):
        self.cudart = cudart
        self.nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        self.ptr = _call(cudart, cudart.cudaMallocHost(self.nbytes), "cudaMallocHost")
        raw = (ctypes.c_byte * self.nbytes).from_address(int(self.ptr))
        self.array = np.frombuffer(raw, dtype=dtype).reshape(shape)

    def free(self) -> None:
        self.cudart.cudaFreeHost(self.ptr)


class TensorRTBackend(Backend):
    name = TENSORRT.backend

    def __init__(self, engine: bytes, info: ModelInfo | None = None):
        super().__init__()
        trt, cudart = _modules()
        self.trt, self.cudart = trt, cudart
        self.info, payload = unbundle(engine, info)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self._logger)
        self.engine = self.runtime.deserialize_cuda_engine(payload)
        if self.engine is None:
            raise ModelError(
                f"TensorRT {trt.__version__} cannot deserialize this engine: it was built for another GPU "
                "or TensorRT version (build one here from the ONNX model)"
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or not outputs:
            raise ModelError(f"expected one input and at least one output, the engine has {inputs} / {outputs}")
        self._in, self._out = inputs[0], outputs[0]
        shape = tuple(self.engine.get_tensor_shape(self._in))
        self._dynamic = shape[0] == -1
        self.fixed_batch = not self._dynamic
        if -1 in shape:  # dynamic dimensions: the optimisation profile's largest shape
            _min, _opt, biggest = self.engine.get_tensor_profile_shape(self._in, 0)
            shape = tuple(int(d) for d in biggest)
        self.batch = int(shape[0])
        self.input_size = (int(shape[2]), int(shape[3]))
        self._in_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(self._in)))
        out_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(self._out)))
        full = (self.batch, 3, *self.input_size)
        if self._dynamic:
            self.context.set_input_shape(self._in, full)
        out_shape = tuple(int(d) for d in self.context.get_tensor_shape(self._out))
        self.stream = _call(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._host_in = _Pinned(cudart, full, self._in_dtype)
        self._host_out = _Pinned(cudart, out_shape, out_dtype)
        self._dev_in = _call(cudart, cudart.cudaMalloc(self._host_in.nbytes), "cudaMalloc")
        self._dev_out = _call(cudart, cudart.cudaMalloc(self._host_out.nbytes), "cudaMalloc")
        self.context.set_tensor_address(self._in, int(self._dev_in))
        self.context.set_tensor_address(self._out, int(self._dev_out))
        log.info(
            "TensorRT %s: input %s %s, batch %s%d, output %s",
            trt.__version__,
            self.input_size,
            self._in_dtype,
            "1.." if self._dynamic else "",
            self.batch,
            out_shape,
        )

    def prepare(self, images: np.ndarray) -> int:
        count = len(images)
        self._host_in.array[:count] = to_nchw(images, self._in_dtype)
        return count

    def _run(self, count: int) -> np.ndarray:
        cudart = self.cudart
        if self._dynamic:
            self.context.set_input_shape(self._in, (count, 3, *self.input_size))
        in_bytes = self._host_in.nbytes * count // self.batch
        out_bytes = self._host_out.nbytes * count // self.batch
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _call(cudart, cudart.cudaMemcpyAsync(self._dev_in, self._host_in.ptr, in_bytes, h2d, self.stream), "copy in")
        if not self.context.execute_async_v3(int(self.stream)):
            raise InferenceError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        _call(
            cudart, cudart.cudaMemcpyAsync(self._host_out.ptr, self._dev_out, out_bytes, d2h, self.stream), "copy out"
        )
        _call(cudart, cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        return self._host_out.array[:count].astype(np.float32)

    def execute_only(self, repeats: int) -> float:
        """Seconds per ``execute_async_v3`` of a full batch with no copies: the engine's pure throughput."""
        if self._dynamic:
            self.context.set_input_shape(self._in, (self.batch, 3, *self.input_size))
        started = time.perf_counter()
        for _ in range(repeats):
            self.context.execute_async_v3(int(self.stream))
        _call(self.cudart, self.cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        return (time.perf_counter() - started) / repeats

    def close(self) -> None:
        cudart = getattr(self, "cudart", None)
        if cudart is None or getattr(self, "stream", None) is None:
            return
        for ptr in (self._dev_in, self._dev_out):
            cudart.cudaFree(ptr)
        self._host_in.free()
        self._host_out.free()
        cudart.cudaStreamDestroy(self.stream)
        self.stream = None


def build_engine(onnx_model: bytes, fp16: bool = True, max_batch: int = 4, workspace_gib: float = 2.0) -> bytes:
    """A serialized engine for this GPU from the ONNX model (azaion_shared.vendors.tensorrt)."""
    _modules()  # TensorRT and cuda-python are both here, or RuntimeUnavailable says which is missing
    return tensorrt.build_engine(onnx_model, fp16=fp16, max_batch=max_batch, workspace_gib=workspace_gib)


def prepare(release, store, device, options, forced: bool = False):
    """The engine for this GPU on TensorRT: the release's for its compute capability, else one built here
    from the release's ONNX model (kept encrypted in the cache, keyed by the signed ONNX hash, the
    TensorRT version and the compute capability; never published). An engine that does not run here
    (another TensorRT version) is built again."""
    if device.compute_capability is None:
        raise ModelError("TensorRT needs an NVIDIA GPU, and none was found here (use --backend onnxruntime)")
    artifact = release.artifact(TENSORRT.name, device.compute_capability)
    if artifact is not None:
        model = store.model(release, artifact)
    else:
        log.info("release %d has no engine for compute capability %s", release.version, device.compute_capability)
        model = built(release, store, device, options, reuse=True)
    try:
        return model, warmed_up(open_model(model, options))
    except ModelError as exc:
        if model.origin == "built here":
            raise
        log.warning("%s (%s) does not run here: %s; building a new one", model.name, model.origin, exc)
        model = built(release, store, device, options)
        return model, warmed_up(open_model(model, options))


def built(release, store, device, options, reuse: bool = False):
    """An engine for this GPU from the release's ONNX model: the one built here before (``reuse``), else
    built now and kept, encrypted, in the store. It stays on this device."""
    from inference.backends import onnx
    from inference.store import Model

    source = release.artifact(ONNX.name)
    if source is None:
        raise ModelError(f"release {release.version} has no ONNX model to build a TensorRT engine from")
    path = store.cache.engine_path(source.plaintext_sha256, version(), device.compute_capability or "")
    name = TENSORRT.resource(device.compute_capability)
    engine = store.kept(path) if reuse else None
    if engine is not None:
        return Model(name, TENSORRT.name, engine, "local cache", release.version)
    onnx_model = onnx.model_for(release, store)
    log.info("building %s from release %d's ONNX model for this GPU (minutes on a Jetson) ...", name, release.version)
    engine = build_engine(onnx_model.payload, fp16=options.engine_fp16, max_batch=options.engine_max_batch)
    store.keep(path, engine)
    log.info("engine kept encrypted in %s (never published)", path)
    return Model(name, TENSORRT.name, engine, "built here", release.version)


def open_model(model, options) -> TensorRTBackend:
    return TensorRTBackend(model.payload)
