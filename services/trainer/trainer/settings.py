"""The trainer's settings: ``AZAION_TRAINER__*``, the API client, the CDN and the model key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from azaion_shared.api_client import ApiClientSettings
from azaion_shared.cdn import CdnSettings
from azaion_shared.model_formats import ONNX
from azaion_shared.settings import AzaionSettings, ModelKeyFields, WordList

#: Production defaults (DESIGN.md, "Configuration").
PRODUCTION = {"model": "yolo11m.yaml", "epochs": 120, "batch": 11, "imgsz": 1280, "export_imgsz": 1280}
#: For tests and the demo: a CPU run well under a minute.
TINY = {"model": "yolo11n.yaml", "epochs": 2, "batch": 8, "imgsz": 96, "export_imgsz": 96}


class TrainerOptions(BaseModel):
    profile: Literal["production", "tiny"] = Field("production", description="production or tiny: the defaults below.")
    model: str | None = Field(None, description="Model yaml (architecture); default by profile.")
    weights: Path | None = Field(
        Path("/weights/yolo11m.pt"), description="Pretrained weights, used when the file exists (mount it)."
    )
    epochs: int | None = Field(None, ge=1)
    batch: int | None = Field(None, ge=1)
    imgsz: int | None = Field(None, ge=32)
    save_period: int = Field(1, description="Save a checkpoint every N epochs (power-loss safety).")
    device: str = Field("", description="'' (auto), 'cpu', '0', '0,1', ...")
    workers: int = Field(2, ge=0, description="Data loader workers.")
    seed: int = Field(0, description="Seed of the split and of training.")
    train_ratio: float = 0.7
    valid_ratio: float = 0.2
    test_ratio: float = 0.1
    variants_in_eval: bool = Field(False, description="Also put variants in valid/test (they inflate mAP).")
    classes_file: Path | None = Field(None, description="Default: the classes.yaml kept in the repository.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Any ultralytics train argument (JSON).")
    gate_margin: float = Field(0.0, ge=0, description="Publish only if mAP50-95 >= current - margin.")
    export_imgsz: int | None = Field(None, ge=32)
    export_batch: int = Field(4, ge=1)
    resource_name: str = Field(ONNX.resource(), description="Name the ONNX model is published under.")
    export_formats: WordList = Field(
        default_factory=lambda: [ONNX.name],
        description="Formats `run` exports and publishes: onnx, tensorrt, rknn (comma-separated, or a JSON list).",
    )
    rknn_python: Path = Field(
        Path("/opt/rknn/bin/python"), description="Python of the rknn-toolkit2 virtualenv (make rknn-env)."
    )
    calibration_images: int = Field(100, ge=1, description="Dataset images that calibrate an INT8 RKNN model.")
    signing_key: Path | None = Field(
        None,
        description="The publisher's Ed25519 private key, the fleet's targets key (`python -m azaion_shared keygen "
        "--signing --out DIR`); releases are signed with it. Keep it on the training server only.",
    )
    trusted_root: Path | None = Field(
        None,
        description="The fleet's root.json from the offline root ceremony (`python -m azaion_shared root`): the "
        "publisher verifies what the api serves from it, as devices do.",
    )
    channel: str = Field("stable", description="The channel a passing gate promotes to (devices follow it).")
    promote: bool = Field(True, description="Move the channel to each new release that passed the gate.")
    release_keep: int = Field(
        5, ge=1, description="Releases kept fetchable; older ones are pruned (never the one a channel points at)."
    )

    @field_validator("export_formats")
    @classmethod
    def _known_formats(cls, value: list[str]) -> list[str]:
        from trainer.formats import FORMATS

        unknown = [f for f in value if f not in FORMATS]
        if unknown:
            raise ValueError(f"unknown export formats {unknown}; choose from {', '.join(FORMATS)}")
        return value

    def resolved(self) -> dict:
        base = TINY if self.profile == "tiny" else PRODUCTION
        return {key: getattr(self, key) if getattr(self, key) is not None else base[key] for key in base}


class TrainerSettings(AzaionSettings, ModelKeyFields):
    trainer: TrainerOptions = Field(default_factory=TrainerOptions)
    api_client: ApiClientSettings = Field(default_factory=ApiClientSettings)
    cdn: CdnSettings = Field(default_factory=CdnSettings)

    def signing_key(self) -> Path:
        """The publisher's private key file, checked; a clear error when it is not configured."""
        from azaion_shared.errors import ConfigError
        from azaion_shared.signing import load_private

        path = self.trainer.signing_key
        if path is None:
            raise ConfigError(
                "AZAION_TRAINER__SIGNING_KEY is not set: releases are signed; make the publisher's key pair once "
                "with `python -m azaion_shared keygen --signing --out keys` and name keys/publisher.pub in the root"
            )
        load_private(path)
        return path

    def trust_client(self, api):
        """The publisher's view of the fleet's TUF repository, verified from AZAION_TRAINER__TRUSTED_ROOT."""
        from azaion_shared.tuf_client import trust_client

        root = self.trainer.trusted_root
        return trust_client(api, root, "AZAION_TRAINER__TRUSTED_ROOT", self.root / "trainer" / "tuf")
