"""One track: what is known of an object followed across frames (made by :mod:`inference.tracking`,
read by :mod:`inference.events` and the run's summary)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from azaion_shared.model_info import ModelInfo
from inference.source import Frame


@dataclass
class Track:
    """What is known of one track: where it was first and last, its class votes, how far it went (on the
    ground, in the first frame's pixels, when the camera's motion is compensated)."""

    id: int
    first_frame: int
    first_ms: float
    last_frame: int = 0
    last_ms: float = 0.0
    detections: int = 0
    votes: Counter = field(default_factory=Counter)
    path_px: float = 0.0
    centre: tuple[float, float] | None = None  # in the latest frame's pixels
    ground: tuple[float, float] | None = None

    def see(self, frame: Frame, box: np.ndarray, cls: int, ground: np.ndarray) -> None:
        centre = ((float(box[0]) + float(box[2])) / 2, (float(box[1]) + float(box[3])) / 2)
        on_ground = ((float(ground[0]) + float(ground[2])) / 2, (float(ground[1]) + float(ground[3])) / 2)
        if self.ground is not None:
            self.path_px += math.dist(self.ground, on_ground)
        self.centre, self.ground = centre, on_ground
        self.last_frame, self.last_ms = frame.index, frame.time_ms
        self.detections += 1
        self.votes[cls] += 1

    @property
    def class_id(self) -> int:
        """The class by majority vote (ties: the class seen first)."""
        return self.votes.most_common(1)[0][0]

    def as_dict(self, info: ModelInfo) -> dict:
        return {
            "track_id": self.id,
            "class_id": self.class_id,
            "class_name": info.name(self.class_id),
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "first_ms": round(self.first_ms, 3),
            "last_ms": round(self.last_ms, 3),
            "detections": self.detections,
            "path_px": round(self.path_px, 1),
        }
