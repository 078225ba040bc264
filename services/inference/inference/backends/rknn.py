"""RKNN on a Rockchip NPU (RK3588: OrangePi 5) with rknn-toolkit-lite2.

The model is loaded from memory (``memfd_create``; no plaintext reaches a disk) by
:mod:`azaion_shared.vendors.rknn`, the only module that imports rknn-toolkit-lite2.
The model takes NHWC uint8 RGB (mean 0, std 255 are folded in at conversion), as ultralytics exports it.
"""

from __future__ import annotations

import logging

import numpy as np

from azaion_shared.board import is_rk3588
from azaion_shared.model_formats import RKNN
from azaion_shared.model_info import ModelInfo
from azaion_shared.vendors import rknn
from inference.backends.base import Backend, unbundle, warmed_up
from inference.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_IMGSZ = 640


def available() -> tuple[bool, str]:
    return rknn.available()


def runtime_missing() -> str | None:
    """Why the board's NPU runtime (librknnrt.so) cannot be used here, or None when it can."""
    return rknn.runtime_missing()


def on_this_board() -> bool:
    """True on a Rockchip RK3588 (OrangePi 5), the NPU this backend runs on."""
    return is_rk3588()


class RknnBackend(Backend):
    name = RKNN.backend

    def __init__(self, model: bytes, info: ModelInfo | None = None):
        super().__init__()
        self.info, payload = unbundle(model, info)
        self.lite = rknn.load(payload)
        size = self.info.imgsz or (DEFAULT_IMGSZ, DEFAULT_IMGSZ)
        self.input_size = (int(size[0]), int(size[1]))
        self.batch = self.info.batch or 1
        log.info("RKNN: input %s, batch %d", self.input_size, self.batch)

    def _run(self, images: np.ndarray) -> np.ndarray:
        outputs = self.lite.inference(inputs=[np.ascontiguousarray(images)], data_format="nhwc")
        if not outputs:
            raise ModelError("RKNNLite returned no output")
        return np.asarray(outputs[0], dtype=np.float32)

    def close(self) -> None:
        rknn = getattr(self, "lite", None)
        if rknn is not None:
            rknn.release()
            self.lite = None


def prepare(release, store, device, options, forced: bool = False):
    """The release's RKNN model on the NPU; None (said why) when this device should run ONNX instead: the
    board's runtime is missing (a rockchip image on another board, or without librknnrt.so), or the release
    has no RKNN model (an error when RKNN is ``forced``)."""
    missing = runtime_missing()
    if missing:
        log.warning("RKNN cannot run here: %s. Running the ONNX model on the CPU (ONNX Runtime) instead", missing)
        return None
    artifact = release.artifact(RKNN.name)
    if artifact is None:
        if forced:
            raise ModelError(f"release {release.version} has no RKNN model (export and release one)")
        log.warning("release %d has no RKNN model; running its ONNX model on the CPU instead", release.version)
        return None
    model = store.model(release, artifact)
    return model, warmed_up(open_model(model, options))


def open_model(model, options) -> RknnBackend:
    return RknnBackend(model.payload)
