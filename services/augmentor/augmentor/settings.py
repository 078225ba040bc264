"""The augmentor's settings: ``AZAION_RABBIT__*`` and ``AZAION_AUGMENTOR__*`` (transforms nested)."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field

from azaion_shared.settings import AzaionSettings, RabbitSettings
from azaion_shared.tasks import DEFAULT_QUEUE


class TransformOptions(BaseModel):
    """Parameters of the seven variants, chosen for top-down drone imagery."""

    rotate_degrees: float = Field(10.0, ge=0, le=45, description="Affine variant: rotation range +-.")
    scale_min: float = Field(0.9, gt=0, description="Affine variant: smallest scale.")
    scale_max: float = Field(1.1, gt=0, description="Affine variant: largest scale.")
    translate_fraction: float = Field(0.05, ge=0, le=0.3, description="Affine variant: shift, fraction of size.")
    brightness: float = Field(0.25, ge=0, le=1, description="Brightness/contrast variant: limit +-.")
    contrast: float = Field(0.25, ge=0, le=1, description="Brightness/contrast variant: limit +-.")
    hue_shift: int = Field(12, ge=0, le=180, description="Hue/saturation variant: hue shift +-.")
    saturation_shift: int = Field(30, ge=0, le=255, description="Hue/saturation variant: saturation shift +-.")
    value_shift: int = Field(20, ge=0, le=255, description="Hue/saturation variant: value shift +-.")
    motion_blur_max: int = Field(9, ge=3, description="Motion blur variant: largest kernel (odd).")
    noise_std_min: float = Field(0.03, ge=0, le=1, description="Noise variant: smallest std (fraction of 255).")
    noise_std_max: float = Field(0.10, ge=0, le=1, description="Noise variant: largest std.")
    noise_scale: float = Field(
        0.5, gt=0, le=1, description="Noise variant: resolution the noise is drawn at (1 = per pixel, slower)."
    )
    shadows_min: int = Field(1, ge=1, description="Cloud-shadow variant: fewest shadows.")
    shadows_max: int = Field(3, ge=1, description="Cloud-shadow variant: most shadows.")


class AugmentorOptions(BaseModel):
    task_queue: str = Field(DEFAULT_QUEUE, description="Durable queue the ingestor publishes tasks to.")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, description="Processes per replica.")
    prefetch: int = Field(0, ge=0, description="Unacked tasks per replica; 0 means 2 x workers.")
    reconcile_minutes: float = Field(5.0, ge=0, description="Rescan data/ this often; 0 only at start.")
    seed: int = Field(42, description="Seed of the variants (per image and variant, so results are reproducible).")
    jpeg_quality: int = Field(90, ge=30, le=100, description="JPEG quality of written images.")
    min_box_size: float = Field(0.002, ge=0, lt=1, description="Boxes smaller than this after a transform are dropped.")
    lock_timeout: float = Field(
        300.0, gt=0, description="Seconds to wait for another replica working on the same image."
    )
    health_port: int = Field(8082, ge=0, description="HTTP port for /healthz and /metrics; 0 disables it.")
    transforms: TransformOptions = Field(default_factory=TransformOptions)


class AugmentorSettings(AzaionSettings):
    rabbit: RabbitSettings = Field(default_factory=RabbitSettings)
    augmentor: AugmentorOptions = Field(default_factory=AugmentorOptions)
