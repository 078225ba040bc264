"""What kind of edge device this is, and which model format and resource it wants (DESIGN.md, "Model resources").

- NVIDIA GPU (server or Jetson): a TensorRT engine named by compute capability, ``azaion.cc87.engine``;
- Rockchip RK3588 (OrangePi 5): ``azaion.rknn``;
- anything else: ``azaion.onnx`` on ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

from azaion_shared.model_formats import ONNX, RKNN, TENSORRT, ModelFormat
from inference.backends import rknn, tensorrt


@dataclass(frozen=True)
class Device:
    format: ModelFormat  # what this device runs best
    detail: str
    compute_capability: str | None = None

    @property
    def kind(self) -> str:
        """``nvidia``, ``rockchip`` or ``cpu`` (for people; code asks ``format``)."""
        return {TENSORRT.name: "nvidia", RKNN.name: "rockchip"}.get(self.format.name, "cpu")

    def engine_name(self) -> str | None:
        return TENSORRT.resource(self.compute_capability) if self.compute_capability else None

    def wanted_resource(self, onnx_resource: str = ONNX.resource(), rknn_resource: str = RKNN.resource()) -> str:
        """The resource this device asks for first."""
        return self.engine_name() or (rknn_resource if self.format is RKNN else onnx_resource)


def detect() -> Device:
    cc = tensorrt.compute_capability()
    if cc:
        return Device(TENSORRT, f"NVIDIA GPU, compute capability {cc[:-1]}.{cc[-1]}", cc)
    if rknn.on_this_board():
        return Device(RKNN, "Rockchip RK3588 NPU")
    return Device(ONNX, "no GPU or NPU found: ONNX Runtime")
