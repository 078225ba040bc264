"""The inference service's settings: ``AZAION_INFERENCE__*``, the API client and the model key.

No CDN settings: a device gets big parts through links the api hands it (least privilege)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from azaion_shared.api_client import ApiClientSettings
from azaion_shared.model_formats import AUTO, BACKEND_CHOICES
from azaion_shared.settings import AzaionSettings, ModelKeyFields

BackendName = Literal[BACKEND_CHOICES]
Point = tuple[float, float]


class Line(BaseModel):
    """A counting line in frame pixels: a track that crosses it raises a ``crossed`` event."""

    name: str = Field(min_length=1)
    points: tuple[Point, Point]


class Zone(BaseModel):
    """A zone in frame pixels (a polygon): a track whose centre enters or leaves it raises an event."""

    name: str = Field(min_length=1)
    points: list[Point] = Field(min_length=3)


class InferenceOptions(BaseModel):
    backend: BackendName = Field(AUTO, description="auto picks TensorRT on NVIDIA, RKNN on Rockchip, else ONNX.")
    cache_dir: Path | None = Field(
        None, description="Encrypted model parts are cached here; default {root}/edge-cache."
    )
    every: int = Field(4, ge=1, description="Process every Nth frame of the source.")
    conf: float = Field(0.25, gt=0, lt=1, description="Confidence threshold.")
    iou: float = Field(0.7, gt=0, le=1, description="IoU threshold of the class-aware NMS (ultralytics' default).")
    max_det: int = Field(300, ge=1, description="At most this many detections per frame.")
    tiles: str = Field(
        "auto",
        description="Sliced inference for small objects in large frames: off (the whole frame, letterboxed), "
        "RxC (rows x columns of overlapping tiles, e.g. 2x3), or auto (tiles at the model's input size when the "
        "whole frame would shrink more than twice, e.g. 4K on a 1280 model; else the whole frame).",
    )
    tile_overlap: float = Field(0.2, ge=0, lt=0.9, description="Overlap of neighbouring tiles (a fraction of a tile).")
    tile_full_frame: bool = Field(
        True, description="With tiles, also run the whole frame (letterboxed) for objects larger than a tile."
    )
    tile_merge: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Boxes of one class from different tiles are merged when their intersection covers this much "
        "of the smaller one (greedy non-maximum merging, as SAHI does).",
    )
    track: bool = Field(True, description="Give every detection a track id (ByteTrack) and summarise the tracks.")
    track_seconds: float = Field(
        1.0, gt=0, description="A track unseen for this long has left (ByteTrack's lost-track buffer, in time)."
    )
    track_high: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="ByteTrack's first-pass confidence: a detection this confident matches first and may start a "
        "track; weaker ones only extend tracks.",
    )
    track_min_frames: int = Field(2, ge=1, description="Processed frames a track needs before it gets an id.")
    track_camera_motion: bool = Field(
        True,
        description="Take the camera's own motion out before tracking (a panning drone; off for a fixed camera).",
    )
    lines: list[Line] = Field(
        default_factory=list,
        description='Counting lines for --events, frame pixels (JSON: [{"name": "bridge", "points": [[0, 540], '
        "[1920, 540]]}]); meaningful for a camera that holds still.",
    )
    zones: list[Zone] = Field(
        default_factory=list,
        description='Zones for --events, frame pixels (JSON: [{"name": "gate", "points": [[x, y], ...]}], three or '
        "more points).",
    )
    queue_size: int = Field(4, ge=1, description="Batches waiting between the reader, the model and the outputs.")
    engine_fp16: bool = Field(True, description="Build TensorRT engines in FP16 (TensorRT 10; 11 uses the ONNX types).")
    engine_max_batch: int = Field(4, ge=1, description="Largest batch of an engine built here.")
    trusted_root: Path | None = Field(
        None,
        description="The fleet's root.json from the root ceremony (`python -m azaion_shared root`): the one file "
        "of trust a device starts from. It follows the root's rotations by itself; releases that the keys the "
        "root names did not sign are refused.",
    )
    channel: str = Field("stable", description="The release channel this device follows.")
    poll_seconds: float = Field(
        60.0, ge=0, description="How often the channel is polled for a new release (0: only at start)."
    )
    heartbeat_seconds: float = Field(
        60.0, ge=0, description="How often this device reports itself to the api's inventory (0: never)."
    )
    device_name: str | None = Field(
        None, description="This device's name in the inventory (`python -m api devices list`); default the host name."
    )
    live_host: str = Field("0.0.0.0", description="Address the --live view listens on (headless boxes: all).")
    threads: int = Field(
        0, ge=0, description="ONNX Runtime intra-op threads of each run (0: the cores shared out between the runs)."
    )
    runs: int = Field(
        0,
        ge=0,
        description="Batches ONNX Runtime runs at once on the CPU, each on its share of the cores (0: two where "
        "there are two cores or more; 1: one at a time on all of them, the least latency per frame).",
    )
    spin: bool = Field(
        False,
        description="ONNX Runtime worker threads spin between runs (lower latency on an otherwise idle CPU); off: "
        "they sleep, leaving the CPU to the reader, the outputs and fleet updates.",
    )

    @field_validator("tiles")
    @classmethod
    def _tiles(cls, value: str) -> str:
        from inference.tiles import parse

        parse(value)  # one rule, one message: "expected auto, off or ROWSxCOLUMNS such as 2x3"
        return value

    def runs_at_once(self) -> int:
        """:attr:`runs`, with 0 resolved for this machine."""
        return self.runs or (2 if (os.cpu_count() or 1) >= 2 else 1)

    def cache(self, root: Path) -> Path:
        return self.cache_dir or root / "edge-cache"

    def trust_client(self, api, cache: Path):
        """The device's TUF client (under the cache folder, remembering when it confirmed freshness)."""
        from azaion_shared.tuf_client import trust_client

        return trust_client(api, self.trusted_root, "AZAION_INFERENCE__TRUSTED_ROOT", cache / "tuf", clock=True)

    def name(self) -> str:
        import re
        import socket

        name = self.device_name or socket.gethostname()
        return re.sub(r"[^A-Za-z0-9._-]", "-", name).lstrip("._-")[:64] or "device"


class LocalInferenceSettings(AzaionSettings, ModelKeyFields):
    """The settings of a run on a local model file (``--model``): no api, so no api credentials."""

    inference: InferenceOptions = Field(default_factory=InferenceOptions)


class InferenceSettings(LocalInferenceSettings):
    api_client: ApiClientSettings = Field(default_factory=ApiClientSettings)
