"""TensorRT, cuda-python and RKNNLite replaced at their boundary, for machines without GPU or NPU.

The fakes keep the vendor APIs' shape (the calls our backends make, the ``(error, value)`` tuples
of cuda-python, raw device pointers) and compute with ONNX Runtime underneath: a fake *engine* is
``FAKE_ENGINE + onnx bytes``, a fake *rknn* model ``FAKE_RKNN + onnx bytes``. Device memory is a
numpy buffer at a real address, so pointer arithmetic and copy directions are checked for real.
"""

from __future__ import annotations

import ctypes
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

FAKE_ENGINE = b"FAKE-TRT-ENGINE\0"
FAKE_RKNN = b"FAKE-RKNN-MODEL\0"


def _session(onnx: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])


# --- cuda-python (cuda.bindings.runtime) ---------------------------------------------------------
class _CudaError:
    cudaSuccess = 0


class _MemcpyKind:
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


@dataclass
class FakeCudart:
    major: int = 8
    minor: int = 7
    device: dict = field(default_factory=dict)
    host: dict = field(default_factory=dict)
    copies: list = field(default_factory=list)
    streams: int = 0

    cudaError_t = _CudaError
    cudaMemcpyKind = _MemcpyKind

    def cudaGetDeviceCount(self):
        return (0, 1)

    def cudaGetDeviceProperties(self, index):
        return (0, types.SimpleNamespace(major=self.major, minor=self.minor, name="Fake GPU"))

    def cudaStreamCreate(self):
        self.streams += 1
        return (0, 1000 + self.streams)

    def cudaStreamDestroy(self, stream):
        return (0,)

    def cudaStreamSynchronize(self, stream):
        return (0,)

    def _alloc(self, pool, nbytes):
        buffer = np.zeros(nbytes, np.uint8)
        pool[buffer.ctypes.data] = buffer
        return (0, buffer.ctypes.data)

    def cudaMalloc(self, nbytes):
        return self._alloc(self.device, nbytes)

    def cudaMallocHost(self, nbytes):
        return self._alloc(self.host, nbytes)

    def cudaFree(self, ptr):
        self.device.pop(int(ptr))
        return (0,)

    def cudaFreeHost(self, ptr):
        self.host.pop(int(ptr))
        return (0,)

    def _within(self, pool, ptr, nbytes) -> bool:
        return any(base <= ptr and ptr + nbytes <= base + buf.nbytes for base, buf in pool.items())

    def cudaMemcpyAsync(self, dst, src, nbytes, kind, stream):
        if kind == _MemcpyKind.cudaMemcpyHostToDevice:
            assert self._within(self.device, dst, nbytes) and self._within(self.host, src, nbytes), "bad H2D copy"
        else:
            assert self._within(self.host, dst, nbytes) and self._within(self.device, src, nbytes), "bad D2H copy"
        ctypes.memmove(dst, src, nbytes)
        self.copies.append((kind, nbytes))
        return (0,)


# --- tensorrt -----------------------------------------------------------------------------------
class _Logger:
    WARNING = 2

    def __init__(self, level=2):
        self.level = level


class _IOMode:
    INPUT = 1
    OUTPUT = 2


class _DataType:
    FLOAT = 0
    HALF = 1


class _BuilderFlag:
    FP16 = "fp16"


class _MemoryPool:
    WORKSPACE = "workspace"


def _view(ptr: int, shape, dtype) -> np.ndarray:
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer((ctypes.c_byte * nbytes).from_address(ptr), dtype=dtype).reshape(shape)


class FakeEngine:
    def __init__(self, onnx: bytes, max_batch: int = 4):
        self.session = _session(onnx)
        self.input = self.session.get_inputs()[0]
        self.output = self.session.get_outputs()[0]
        self.max_batch = max_batch
        self.executions: list[int] = []
        imgsz = eval(self.session.get_modelmeta().custom_metadata_map.get("imgsz", "[640, 640]"))
        shape = self.input.shape
        self.full = tuple(
            d if isinstance(d, int) else default for d, default in zip(shape, (max_batch, 3, *imgsz), strict=True)
        )

    @property
    def num_io_tensors(self) -> int:
        return 2

    def get_tensor_name(self, index: int) -> str:
        return [self.input.name, self.output.name][index]

    def get_tensor_mode(self, name: str):
        return _IOMode.INPUT if name == self.input.name else _IOMode.OUTPUT

    def get_tensor_shape(self, name: str):
        shape = self.input.shape if name == self.input.name else self.output.shape
        return [d if isinstance(d, int) else -1 for d in shape]

    def get_tensor_dtype(self, name: str):
        return _DataType.FLOAT

    def get_tensor_profile_shape(self, name: str, profile: int):
        rest = list(self.full[1:])
        return [1, *rest], [self.max_batch, *rest], [self.max_batch, *rest]

    def create_execution_context(self):
        return FakeContext(self)


class FakeContext:
    def __init__(self, engine: FakeEngine):
        self.engine = engine
        self.addresses: dict[str, int] = {}
        self.input_shape = engine.full

    def set_input_shape(self, name: str, shape) -> bool:
        assert len(shape) == 4 and 1 <= shape[0] <= self.engine.max_batch
        self.input_shape = tuple(shape)
        return True

    def get_tensor_shape(self, name: str):
        if name == self.engine.input.name:
            return list(self.input_shape)
        (out,) = self.engine.session.run(None, {self.engine.input.name: np.zeros(self.input_shape, np.float32)})
        return list(out.shape)

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        self.addresses[name] = int(ptr)
        return True

    def execute_async_v3(self, stream) -> bool:
        assert isinstance(stream, int)
        images = _view(self.addresses[self.engine.input.name], self.input_shape, np.float32).copy()
        (out,) = self.engine.session.run(None, {self.engine.input.name: images})
        _view(self.addresses[self.engine.output.name], out.shape, np.float32)[...] = out
        self.engine.executions.append(len(images))
        return True


class FakeRuntime:
    def __init__(self, logger):
        self.logger = logger

    def deserialize_cuda_engine(self, blob):
        blob = bytes(blob)
        return FakeEngine(blob[len(FAKE_ENGINE) :]) if blob.startswith(FAKE_ENGINE) else None


@dataclass
class _Tensor:
    name: str
    shape: tuple


class FakeNetwork:
    def __init__(self):
        self.onnx: bytes | None = None

    def get_input(self, index: int) -> _Tensor:
        tensor = _session(self.onnx).get_inputs()[0]
        return _Tensor(tensor.name, tuple(d if isinstance(d, int) else -1 for d in tensor.shape))


class FakeParser:
    def __init__(self, network: FakeNetwork, logger):
        self.network = network
        self.errors: list[str] = []

    def parse(self, data: bytes) -> bool:
        try:
            _session(data)
        except Exception as exc:
            self.errors.append(str(exc))
            return False
        self.network.onnx = bytes(data)
        return True

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, index: int) -> str:
        return self.errors[index]


class FakeProfile:
    def __init__(self):
        self.shapes: dict[str, tuple] = {}

    def set_shape(self, name, low, opt, high):
        self.shapes[name] = (tuple(low), tuple(opt), tuple(high))


class FakeConfig:
    def __init__(self):
        self.flags: set = set()
        self.profiles: list[FakeProfile] = []
        self.pools: dict = {}

    def set_memory_pool_limit(self, pool, size):
        self.pools[pool] = size

    def set_flag(self, flag):
        self.flags.add(flag)

    def add_optimization_profile(self, profile):
        self.profiles.append(profile)
        return len(self.profiles) - 1


class FakeBuilder:
    built: ClassVar[list[tuple[FakeNetwork, FakeConfig]]] = []

    def __init__(self, logger):
        self.logger = logger

    def create_network(self, flags: int = 0) -> FakeNetwork:
        return FakeNetwork()

    def create_builder_config(self) -> FakeConfig:
        return FakeConfig()

    def create_optimization_profile(self) -> FakeProfile:
        return FakeProfile()

    def build_serialized_network(self, network: FakeNetwork, config: FakeConfig):
        FakeBuilder.built.append((network, config))
        return FAKE_ENGINE + network.onnx


def tensorrt_module() -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0"
    trt.Logger, trt.Runtime, trt.TensorIOMode, trt.DataType = _Logger, FakeRuntime, _IOMode, _DataType
    trt.Builder, trt.OnnxParser, trt.BuilderFlag, trt.MemoryPoolType = (
        FakeBuilder,
        FakeParser,
        _BuilderFlag,
        _MemoryPool,
    )
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)
    trt.nptype = lambda dtype: {_DataType.FLOAT: np.float32, _DataType.HALF: np.float16}[dtype]
    return trt


# --- rknn-toolkit-lite2 -------------------------------------------------------------------------
class FakeRKNNLite:
    NPU_CORE_0_1_2 = 7
    loaded_from: ClassVar[list[str]] = []

    def __init__(self, verbose: bool = False):
        self.session = None
        self.released = False

    def load_rknn(self, path: str) -> int:
        FakeRKNNLite.loaded_from.append(path)
        data = Path(path).read_bytes()
        if not data.startswith(FAKE_RKNN):
            return -1
        self.session = _session(data[len(FAKE_RKNN) :])
        return 0

    def init_runtime(self, core_mask=None) -> int:
        return 0 if self.session is not None else -1

    def inference(self, inputs, data_format="nhwc"):
        (images,) = inputs
        assert images.dtype == np.uint8 and images.shape[-1] == 3 and data_format == "nhwc"
        tensor = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)
        return self.session.run(None, {self.session.get_inputs()[0].name: tensor})

    def release(self) -> None:
        self.released = True


def install(monkeypatch, cudart: FakeCudart | None = None) -> FakeCudart:
    """Put the fakes in ``sys.modules`` (undone by ``monkeypatch`` after the test)."""
    cudart = cudart or FakeCudart()
    cuda = types.ModuleType("cuda")
    bindings = types.ModuleType("cuda.bindings")
    runtime = types.ModuleType("cuda.bindings.runtime")
    for name in dir(cudart):
        if name.startswith("cuda"):
            setattr(runtime, name, getattr(cudart, name))
    bindings.runtime, cuda.bindings = runtime, bindings
    rknnlite, api = types.ModuleType("rknnlite"), types.ModuleType("rknnlite.api")
    api.RKNNLite, rknnlite.api = FakeRKNNLite, api
    modules = {
        "tensorrt": tensorrt_module(),
        "cuda": cuda,
        "cuda.bindings": bindings,
        "cuda.bindings.runtime": runtime,
        "rknnlite": rknnlite,
        "rknnlite.api": api,
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    from azaion_shared.vendors import rknn

    monkeypatch.setattr(rknn, "runtime_missing", lambda: None)  # the board's librknnrt.so, faked too
    return cudart


def runtime(kind: str, monkeypatch, sdk: str = "tensorrt") -> FakeCudart | None:
    """``fake``: the fakes installed (their FakeCudart returned). ``real``: the host's own SDK, or the
    test skips itself saying what this host lacks; the same assertions then run on real hardware."""
    import pytest

    if kind == "fake":
        return install(monkeypatch)
    from azaion_shared.vendors import rknn, tensorrt

    ok, why = {"tensorrt": tensorrt, "rknn": rknn}[sdk].available()
    if not ok:
        pytest.skip(f"real {sdk} is not on this host ({why}); the fake ran the same assertions")
    return None


def hide_sdks(monkeypatch, *names: str) -> None:
    """Make ``import NAME`` fail as on a host without the SDK, whatever this host has."""
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)
