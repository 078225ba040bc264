"""The model formats, each defined once: its resource name, the backend that runs it, and whether
this machine can (DESIGN.md, "Model resources").

| format   | resource                        | backend (inference --backend) | runtime (azaion_shared.vendors) |
|----------|---------------------------------|-------------------------------|---------------------------------|
| onnx     | ``azaion.onnx``                 | onnxruntime                   | onnxruntime                     |
| tensorrt | ``azaion.cc{cc}.engine`` per GPU| tensorrt                      | tensorrt (+ cuda-python)        |
| rknn     | ``azaion.rknn``                 | rknn                          | rknn (rknn-toolkit-lite2)       |

``cc`` is the GPU's compute capability without the dot (``87`` on a Jetson Orin):
an engine runs only on the GPU model it was built for.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import PurePath

RESOURCE_PREFIX = "azaion"


@dataclass(frozen=True)
class ModelFormat:
    name: str  # the trainer's --format, the model's kind everywhere
    suffix: str
    backend: str  # the inference backend that runs it
    runtime: str  # its module under azaion_shared.vendors

    def resource(self, compute_capability: str | None = None) -> str:
        """The resource name this format is published under (an engine's names its GPU)."""
        if self.name == "tensorrt":
            if not compute_capability:
                raise ValueError("a TensorRT engine's resource name needs the GPU's compute capability")
            return f"{RESOURCE_PREFIX}.cc{compute_capability}{self.suffix}"
        return f"{RESOURCE_PREFIX}{self.suffix}"

    def resource_pattern(self) -> str:
        """A glob that matches every resource of this format (all engines)."""
        return f"{RESOURCE_PREFIX}.cc*{self.suffix}" if self.name == "tensorrt" else self.resource()

    def available(self) -> tuple[bool, str]:
        """Whether this machine can run the format, and why (not)."""
        return importlib.import_module(f"azaion_shared.vendors.{self.runtime}").available()


ONNX = ModelFormat("onnx", ".onnx", "onnxruntime", "onnxruntime")
TENSORRT = ModelFormat("tensorrt", ".engine", "tensorrt", "tensorrt")
RKNN = ModelFormat("rknn", ".rknn", "rknn", "rknn")
FORMATS: dict[str, ModelFormat] = {f.name: f for f in (ONNX, TENSORRT, RKNN)}
BACKENDS: dict[str, ModelFormat] = {f.backend: f for f in FORMATS.values()}
#: what a device may be told to run on (``inference --backend``): its best one, or one by name
AUTO = "auto"
BACKEND_CHOICES = (AUTO, *BACKENDS)


def engine_resource(compute_capability: str) -> str:
    """``azaion.cc87.engine``: the engine for GPUs of that compute capability."""
    return TENSORRT.resource(compute_capability)


def format_of(resource: str) -> ModelFormat:
    """The format of a resource or file name, by its suffix (ONNX when unknown)."""
    suffix = PurePath(resource).suffix.lower()
    return next((f for f in FORMATS.values() if f.suffix == suffix), ONNX)


def availability() -> dict[str, tuple[bool, str]]:
    """Every backend: whether this machine can run it, and why (not)."""
    return {f.backend: f.available() for f in FORMATS.values()}
