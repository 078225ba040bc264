"""What kind of edge device this is, and which model artifact it wants (DESIGN.md, "Model resources").

- NVIDIA GPU (server or Jetson): a TensorRT engine named by compute capability, ``azaion.cc87.engine``;
- Rockchip RK3588 (OrangePi 5): ``azaion.rknn``;
- anything else: ``azaion.onnx`` on ONNX Runtime.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEVICE_TREE = Path("/proc/device-tree/compatible")
# Jetson SoCs by their device-tree name, for when CUDA cannot be asked (no cuda-python yet).
TEGRA_CC = {"tegra264": "110", "tegra234": "87", "tegra194": "72", "tegra186": "62", "tegra210": "53"}


@dataclass(frozen=True)
class Device:
    kind: str  # nvidia | rockchip | cpu
    detail: str
    compute_capability: str | None = None

    def engine_name(self) -> str | None:
        return f"azaion.cc{self.compute_capability}.engine" if self.compute_capability else None


def _compatible() -> str:
    try:
        return DEVICE_TREE.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


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


def detect() -> Device:
    from inference.backends.tensorrt import compute_capability

    compatible = _compatible()
    cc = compute_capability() or _nvidia_smi_cc()
    if cc is None and "nvidia,tegra" in compatible:
        cc = next((value for soc, value in TEGRA_CC.items() if soc in compatible), None)
    if cc:
        return Device("nvidia", f"NVIDIA GPU, compute capability {cc[:-1]}.{cc[-1]}", cc)
    if "rockchip,rk3588" in compatible:
        return Device("rockchip", "Rockchip RK3588 NPU")
    return Device("cpu", "no GPU or NPU found: ONNX Runtime")
