"""rknn-toolkit-lite2 on a Rockchip board: the one place that imports it.

RKNNLite loads a model from a path only; :func:`load` hands it the decrypted model through an
anonymous in-memory file (``memfd_create``, seen as ``/proc/self/fd/N``), so no plaintext reaches a
disk. ``librknnrt.so`` is not in the wheel: it comes from the board (or its vendor image).
"""

from __future__ import annotations

import ctypes
import os

from azaion_shared.errors import ModelLoadError, RuntimeUnavailable
from azaion_shared.memfile import memory_file

RUNTIME_LIBRARY = "librknnrt.so"

INSTALL_HINT = (
    "pip install 'azaion-inference[rknn]' on the device and put librknnrt.so of the same version (2.3.2) in /usr/lib"
)


def lite_module():
    """The ``RKNNLite`` class."""
    try:
        from rknnlite.api import RKNNLite
    except ImportError as exc:
        raise RuntimeUnavailable(f"rknn-toolkit-lite2 is not installed ({exc}): {INSTALL_HINT}") from exc
    return RKNNLite


def runtime_missing() -> str | None:
    """Why the NPU cannot be used here (rknn-toolkit-lite2 or the board's ``librknnrt.so`` missing), or None."""
    try:
        lite_module()
    except RuntimeUnavailable as exc:
        return str(exc)
    try:
        ctypes.CDLL(RUNTIME_LIBRARY)
    except OSError as exc:
        return (
            f"{RUNTIME_LIBRARY} is not on this system ({exc}): it comes from the board, not the image "
            "(docker-compose.rockchip.yml mounts the board's /usr/lib/librknnrt.so, version 2.3.2; RKNN_RUNTIME "
            "names another path)"
        )
    return None


def available() -> tuple[bool, str]:
    missing = runtime_missing()
    if missing:
        return False, missing
    if not os.path.exists("/dev/dri") and not os.path.exists("/proc/device-tree/compatible"):
        return False, "rknn-toolkit-lite2 is installed but this is not a Rockchip board"
    return True, "rknn-toolkit-lite2"


def load(payload: bytes):
    """An RKNNLite with ``payload`` loaded (from memory) and its runtime started on every NPU core."""
    lite = lite_module()
    rknn = lite(verbose=False)
    with memory_file("azaion-model", payload) as (path, _):
        ret = rknn.load_rknn(path)
    if ret != 0:
        raise ModelLoadError(
            f"RKNNLite could not load the model (code {ret}): is it an .rknn for this runtime version?"
        )
    core_mask = getattr(lite, "NPU_CORE_0_1_2", None)
    ret = rknn.init_runtime(core_mask=core_mask) if core_mask is not None else rknn.init_runtime()
    if ret != 0:
        raise RuntimeUnavailable(
            f"RKNNLite init_runtime failed (code {ret}): is this an RK3588 with librknnrt.so 2.3.2 in /usr/lib?"
        )
    return rknn
