"""What the trainer trains on, said in one line when training starts: the GPU and its driver, or the
CPU and why (issue 30: a CUDA build of torch needs a recent enough NVIDIA driver, and nothing said so
until training fell back to the CPU or failed)."""

from __future__ import annotations

import re
from pathlib import Path

#: the oldest NVIDIA driver each CUDA major release runs on (NVIDIA's minor-version compatibility table)
MIN_DRIVER = {11: 450, 12: 525, 13: 580}
DRIVER_FILE = Path("/proc/driver/nvidia/version")


def nvidia_driver(version_file: Path = DRIVER_FILE) -> str | None:
    """The loaded NVIDIA kernel driver's version (``550.54.14``), or None when there is none."""
    try:
        found = re.search(r"Kernel Module\s+(\d+(?:\.\d+)+)", version_file.read_text())
    except OSError:
        return None
    return found.group(1) if found else None


def describe(torch=None, driver: str | bool | None = False) -> str:
    """One line: what training will run on, and what is missing when it is the CPU against a wish for
    a GPU. ``torch`` and ``driver`` are for the tests (default: the real ones)."""
    if torch is None:
        import torch
    if driver is False:
        driver = nvidia_driver()
    build = torch.version.cuda
    if build is None:
        return f"training on the CPU: torch {torch.__version__} is a CPU build"
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        versions = f"driver {driver or 'unknown'}; torch {torch.__version__}, CUDA {build}"
        return f"training on the GPU: {', '.join(names)} ({versions})"
    needs = MIN_DRIVER.get(int(build.split(".")[0]))
    wanted = f"CUDA {build}, which needs an NVIDIA driver {needs} or newer" if needs else f"CUDA {build}"
    if driver is None:
        return f"no GPU: training on the CPU (torch {torch.__version__} is built for {wanted}; no NVIDIA driver found)"
    return (
        f"the NVIDIA driver {driver} is here but torch {torch.__version__} cannot use it ({wanted}): training on the "
        "CPU. Update the driver, or build the trainer image with torch for an older CUDA: "
        "TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 make images SERVICES=trainer "
        "(docs/guides/training-server.md)"
    )
