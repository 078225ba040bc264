"""The inference service's settings: ``AZAION_INFERENCE__*``, the API client and the CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from azaion_shared.api_client import ApiClientSettings
from azaion_shared.cdn import CdnSettings
from azaion_shared.model_formats import ONNX, RKNN
from azaion_shared.settings import AzaionSettings, ModelKeyFields

BackendName = Literal["auto", "onnxruntime", "tensorrt", "rknn"]


class InferenceOptions(BaseModel):
    backend: BackendName = Field("auto", description="auto picks TensorRT on NVIDIA, RKNN on Rockchip, else ONNX.")
    cache_dir: Path | None = Field(
        None, description="Encrypted model parts are cached here; default {root}/edge-cache."
    )
    every: int = Field(4, ge=1, description="Process every Nth frame of the source.")
    conf: float = Field(0.25, gt=0, lt=1, description="Confidence threshold.")
    iou: float = Field(0.7, gt=0, le=1, description="IoU threshold of the class-aware NMS (ultralytics' default).")
    max_det: int = Field(300, ge=1, description="At most this many detections per frame.")
    queue_size: int = Field(4, ge=1, description="Batches waiting between the reader, the model and the outputs.")
    onnx_resource: str = Field(ONNX.resource(), description="Name of the ONNX resource (the fallback of every device).")
    rknn_resource: str = Field(RKNN.resource(), description="Name of the RKNN resource (Rockchip NPUs).")
    engine_fp16: bool = Field(True, description="Build TensorRT engines in FP16 (TensorRT 10; 11 uses the ONNX types).")
    engine_max_batch: int = Field(4, ge=1, description="Largest batch of an engine built here.")
    publish_engines: bool = Field(True, description="Publish an engine built here when this user's role may upload.")
    live_host: str = Field("0.0.0.0", description="Address the --live view listens on (headless boxes: all).")
    threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads (0: its default).")

    def cache(self, root: Path) -> Path:
        return self.cache_dir or root / "edge-cache"


class InferenceSettings(AzaionSettings, ModelKeyFields):
    inference: InferenceOptions = Field(default_factory=InferenceOptions)
    api_client: ApiClientSettings = Field(default_factory=ApiClientSettings)
    cdn: CdnSettings = Field(default_factory=CdnSettings)
