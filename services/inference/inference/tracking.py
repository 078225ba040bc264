"""Objects followed across frames: a track id on every detection, a summary per track, track events.

The tracker is ByteTrack from Roboflow's ``trackers`` library, fed with the merged detections of
each processed frame (a Kalman filter per track and two association passes: confident detections
first, then weaker ones only to extend tracks). One processed frame is one tracker step, so with
``--every N`` an object moves N times farther between steps and the filter learns that speed; the
lost-track buffer is set in time (``track_seconds``) and converted to processed frames. With
``track_camera_motion`` (the default) the tracker sees every box on the ground, the camera's own
motion taken out (:mod:`inference.motion`): what lets ids survive a panning drone and skipped frames.

The library numbers tracks across every tracker of the process; :class:`Tracker` renumbers them
1, 2, 3 ... per run. A detection not (yet) on a confirmed track has the id -1 here and ``null`` in
the JSONL: a track needs ``track_min_frames`` matches before it gets an id.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from azaion_shared.model_info import ModelInfo
from inference.events import Events
from inference.motion import CameraMotion
from inference.postprocess import Detections
from inference.settings import InferenceOptions
from inference.source import Frame


class Tracker:
    """ByteTrack over our detections: :meth:`update` returns one track id per detection (-1: none)."""

    def __init__(self, options: InferenceOptions, fps: float):
        from trackers import ByteTrackTracker

        self.buffer = max(1, round(options.track_seconds * fps))  # processed frames a lost track is kept
        # frame_rate=30 makes the library's buffer exactly self.buffer frames (it scales by frame_rate / 30)
        self._tracker = ByteTrackTracker(
            lost_track_buffer=self.buffer,
            frame_rate=30.0,
            track_activation_threshold=options.track_high,
            high_conf_det_threshold=options.track_high,
            minimum_consecutive_frames=options.track_min_frames,
        )
        self._ids: dict[int, int] = {}

    def update(self, detections: Detections, boxes: np.ndarray | None = None) -> np.ndarray:
        """Track ids of ``detections``; ``boxes``: where the tracker is to see them (default their boxes)."""
        import supervision as sv

        count = len(detections)
        ids = np.full(count, -1, np.int64)
        boxes = detections.boxes if boxes is None else boxes
        found = self._tracker.update(
            sv.Detections(
                xyxy=boxes.astype(np.float32).reshape(-1, 4),
                confidence=detections.scores.astype(np.float32),
                class_id=detections.classes.astype(np.int64),
                data={"index": np.arange(count)},
            )
        )
        for index, tracked in zip(found.data.get("index", ()), found.tracker_id, strict=True):
            if tracked >= 0:
                ids[int(index)] = self._ids.setdefault(int(tracked), len(self._ids) + 1)
        return ids


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


class Tracking:
    """The tracking stage of the pipeline: ids onto each frame's detections, the tracks' record, and
    (with ``events``) the events they raise. ``seconds`` is the time it took, for the benchmark."""

    def __init__(self, options: InferenceOptions, fps: float, events: Events | None = None):
        self.tracker = Tracker(options, fps)
        self.motion = CameraMotion() if options.track_camera_motion else None
        self.events = events
        self.tracks: dict[int, Track] = {}
        self.seconds = 0.0

    def step(self, frame: Frame, detections: Detections, info: ModelInfo) -> Detections:
        started = time.perf_counter()
        ground = detections.boxes
        if self.motion is not None:
            self.motion.update(frame.image)
            ground = self.motion.to_ground(detections.boxes)
        ids = self.tracker.update(detections, ground)
        appeared = []
        for box, cls, track_id, on_ground in zip(detections.boxes, detections.classes, ids, ground, strict=True):
            if track_id < 0:
                continue
            track = self.tracks.get(int(track_id))
            if track is None:
                track = self.tracks[int(track_id)] = Track(int(track_id), frame.index, frame.time_ms)
                appeared.append(track)
            track.see(frame, box, int(cls), on_ground)
        tracked = replace(detections, track_ids=ids)
        if self.events is not None:
            self.events.step(frame, tracked, appeared, self.tracks, self.tracker.buffer, info)
        self.seconds += time.perf_counter() - started
        return tracked

    def finish(self, info: ModelInfo) -> None:
        """The end of the source: every track still open has left."""
        if self.events is not None:
            self.events.finish(self.tracks, info)

    def summary(self, info: ModelInfo) -> list[dict]:
        return [self.tracks[i].as_dict(info) for i in sorted(self.tracks)]
