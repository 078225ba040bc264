"""Objects followed across frames: a track id on every detection, a summary per track, track events.

The tracker is ByteTrack (:mod:`inference.bytetrack`: the algorithm of Roboflow's ``trackers``
library over arrays), fed with the merged detections of each processed frame (a Kalman filter per
track and two association passes: confident detections first, then weaker ones only to extend
tracks). One processed frame is one tracker step, so with
``--every N`` an object moves N times farther between steps and the filter learns that speed; the
lost-track buffer is set in time (``track_seconds``) and converted to processed frames. With
``track_camera_motion`` (the default) the tracker sees every box on the ground, the camera's own
motion taken out (:mod:`inference.motion`): what lets ids survive a panning drone and skipped frames.

Tracks are numbered 1, 2, 3 ... per run, in the order they get their id. A detection not (yet) on a
confirmed track has the id -1 here and ``null`` in the JSONL: a track needs ``track_min_frames``
matches before it gets an id.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from azaion_shared.model_info import ModelInfo
from inference.bytetrack import ByteTrack
from inference.events import Events
from inference.motion import CameraMotion
from inference.postprocess import Detections
from inference.settings import InferenceOptions
from inference.source import Frame
from inference.tracks import Track


class Tracker:
    """ByteTrack over our detections: :meth:`update` returns one track id per detection (-1: none)."""

    def __init__(self, options: InferenceOptions, fps: float):
        self.buffer = max(1, round(options.track_seconds * fps))  # processed frames a lost track is kept
        self._tracker = ByteTrack(self.buffer, options.track_high, options.track_high, options.track_min_frames)

    def update(self, detections: Detections, boxes: np.ndarray | None = None) -> np.ndarray:
        """Track ids of ``detections``; ``boxes``: where the tracker is to see them (default their boxes)."""
        return self._tracker.update(detections.boxes if boxes is None else boxes, detections.scores)


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
