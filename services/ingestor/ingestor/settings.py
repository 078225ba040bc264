"""The ingestor's settings: ``AZAION_RABBIT__*`` (the broker) and ``AZAION_INGESTOR__*``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from azaion_shared.settings import AzaionSettings, RabbitSettings
from azaion_shared.tasks import DEFAULT_QUEUE


class IngestorOptions(BaseModel):
    consumer_name: str = Field("azaion-ingestor", description="Name the offset is stored under on the broker.")
    initial_credit: int = Field(2, ge=1, description="Chunks in flight; memory is about this x chunk size.")
    max_batch: int = Field(64, ge=1, description="Messages applied per group commit (one checkpoint each).")
    store_offset_every: int = Field(100, ge=1, description="Store the offset on the broker every N messages.")
    watchdog_seconds: float = Field(30.0, gt=0, description="Probe the broker after this long without deliveries.")
    backoff_initial: float = Field(1.0, gt=0, description="First reconnect delay, seconds.")
    backoff_max: float = Field(30.0, gt=0, description="Longest reconnect delay, seconds.")
    min_box_size: float = Field(0.002, ge=0, lt=1, description="Boxes smaller than this after clipping are dropped.")
    image_check: Literal["full", "header"] = Field(
        "header",
        description="header: JPEG format, dimensions and end-of-image marker (fast; the augmentor decodes every "
        "image anyway); full: also decode the pixels here (about half the throughput).",
    )
    max_image_pixels: int = Field(100_000_000, description="Larger images are refused (decompression bombs).")
    health_port: int = Field(8081, ge=0, description="HTTP port for /healthz and /metrics; 0 disables it.")
    lag_probe_seconds: float = Field(30.0, ge=0, description="How often to measure the lag; 0 disables it.")
    tasks: bool = Field(True, description="Publish a task per changed annotation for the augmentor.")
    task_queue: str = Field(DEFAULT_QUEUE, description="Durable queue the augmentor consumes.")


class IngestorSettings(AzaionSettings):
    rabbit: RabbitSettings = Field(default_factory=RabbitSettings)
    ingestor: IngestorOptions = Field(default_factory=IngestorOptions)
