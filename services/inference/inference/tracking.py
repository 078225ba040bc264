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

import time
from dataclasses import replace

import numpy as np

from azaion_shared.model_info import ModelInfo
from inference.events import Events
from inference.motion import CameraMotion
from inference.postprocess import Detections
from inference.settings import InferenceOptions
from inference.source import Frame
from inference.tracks import Track


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
        count = len(detections)
        ids = np.full(count, -1, np.int64)
        seen = detections if boxes is None else replace(detections, boxes=boxes)
        found = self._tracker.update(seen.to_supervision(index=np.arange(count)))
        for index, tracked in zip(found.data.get("index", ()), found.tracker_id, strict=True):
            if tracked >= 0:
                ids[int(index)] = self._ids.setdefault(int(tracked), len(self._ids) + 1)
        return ids


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
