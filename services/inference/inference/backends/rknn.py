"""RKNN on a Rockchip NPU (RK3588: OrangePi 5) with rknn-toolkit-lite2.

RKNNLite loads a model from a path only. The decrypted model is handed to it through an anonymous
in-memory file (``memfd_create``, seen as ``/proc/self/fd/N``), so no plaintext reaches a disk.
The model takes NHWC uint8 RGB (mean 0, std 255 are folded in at conversion), as ultralytics exports it.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from inference.backends.base import Backend
from inference.errors import BackendUnavailable, ModelError
from inference.metadata import ModelInfo, info_from_mapping, split_bundle

log = logging.getLogger(__name__)

DEFAULT_IMGSZ = 640


def _module():
    try:
        from rknnlite.api import RKNNLite
    except ImportError as exc:
        raise BackendUnavailable(
            f"rknn-toolkit-lite2 is not installed ({exc}): pip install 'azaion-inference[rknn]' on the device "
            "and put librknnrt.so of the same version (2.3.2) in /usr/lib; or use --backend onnxruntime"
        ) from exc
    return RKNNLite


def available() -> tuple[bool, str]:
    try:
        _module()
    except BackendUnavailable as exc:
        return False, str(exc)
    if not os.path.exists("/dev/dri") and not os.path.exists("/proc/device-tree/compatible"):
        return False, "rknn-toolkit-lite2 is installed but this is not a Rockchip board"
    return True, "rknn-toolkit-lite2"


class RknnBackend(Backend):
    name = "rknn"

    def __init__(self, model: bytes, info: ModelInfo | None = None):
        super().__init__()
        rknnlite = _module()
        meta, payload = split_bundle(model)
        self.info = info or (info_from_mapping(meta) if meta else ModelInfo())
        self.rknn = rknnlite(verbose=False)
        fd = os.memfd_create("azaion-model", os.MFD_CLOEXEC)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            ret = self.rknn.load_rknn(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        if ret != 0:
            raise ModelError(
                f"RKNNLite could not load the model (code {ret}): is it an .rknn for this runtime version?"
            )
        core_mask = getattr(rknnlite, "NPU_CORE_0_1_2", None)
        ret = self.rknn.init_runtime(core_mask=core_mask) if core_mask is not None else self.rknn.init_runtime()
        if ret != 0:
            raise BackendUnavailable(
                f"RKNNLite init_runtime failed (code {ret}): is this an RK3588 with librknnrt.so 2.3.2 in /usr/lib?"
            )
        size = self.info.imgsz or (DEFAULT_IMGSZ, DEFAULT_IMGSZ)
        self.input_size = (int(size[0]), int(size[1]))
        self.batch = self.info.batch or 1
        log.info("RKNN: input %s, batch %d", self.input_size, self.batch)

    def _run(self, images: np.ndarray) -> np.ndarray:
        outputs = self.rknn.inference(inputs=[np.ascontiguousarray(images)], data_format="nhwc")
        if not outputs:
            raise ModelError("RKNNLite returned no output")
        return np.asarray(outputs[0], dtype=np.float32)

    def close(self) -> None:
        rknn = getattr(self, "rknn", None)
        if rknn is not None:
            rknn.release()
            self.rknn = None
