"""Track events, the stream an operator consumes downstream (``--events FILE.jsonl``).

One JSON object per line, written as it happens::

    {"event": "appeared", "track_id": 3, "frame": 120, "time_ms": 4800.0, "class_name": "car", "x": 812.5, "y": 440.0}
    {"event": "crossed", ..., "line": "bridge", "direction": "in"}      a counting line (settings: lines)
    {"event": "entered", ..., "zone": "gate"} / {"event": "exited", ...}  a zone (settings: zones)
    {"event": "left", ..., "end": false}      unseen for track_seconds (end: true: the source ended)

``x``, ``y`` are the centre of the track's box in frame pixels (for ``left``: where it was last seen;
``frame`` is then its last frame). Without ``--events`` the lines and zones still count (``log`` is
None), so that the annotated video shows them with their counts (:meth:`Events.draw`). Line
crossings and zones use supervision's ``LineZone`` and ``PolygonZone`` on the box centre; lines and
zones are in frame pixels, so they mean something for a camera that holds still (a hovering or
tethered drone, a mast).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from azaion_shared.model_info import ModelInfo
from inference.postprocess import Detections
from inference.settings import Line, Zone
from inference.sinks import JsonLines
from inference.source import Frame
from inference.tracks import Track


class EventLog(JsonLines):
    """The events file (``--events``)."""

    def __init__(self, path: Path):
        super().__init__(path, "the events")


class Events:
    """Turns each frame's tracked detections into events for ``log``."""

    def __init__(self, log: EventLog | None, lines: list[Line] = (), zones: list[Zone] = ()):
        import supervision as sv

        self.log = log
        self._points = {line.name: line.points for line in lines} | {zone.name: zone.points for zone in zones}
        centre = (sv.Position.CENTER,)
        self._lines = [
            (
                line.name,
                sv.LineZone(start=sv.Point(*line.points[0]), end=sv.Point(*line.points[1]), triggering_anchors=centre),
            )
            for line in lines
        ]
        self._zones = [
            (zone.name, sv.PolygonZone(np.round(np.array(zone.points)).astype(np.int64), triggering_anchors=centre))
            for zone in zones
        ]
        self._inside: dict[str, set[int]] = {zone.name: set() for zone in zones}
        self._step = 0
        self._seen: dict[int, int] = {}  # track id -> the step it was last seen

    def _write(self, record: dict) -> None:
        if self.log is not None:
            self.log.write(record)

    def draw(self, image: np.ndarray) -> None:
        """Each counting line with its crossings in and out, each zone with the tracks inside it now."""
        from azaion_shared.drawing import draw_counted

        for name, line in self._lines:
            draw_counted(image, self._points[name], f"{name}: in {line.in_count}, out {line.out_count}", closed=False)
        for name, _zone in self._zones:
            draw_counted(image, self._points[name], f"{name}: {len(self._inside[name])} inside", closed=True)

    @staticmethod
    def _record(kind: str, track: Track, frame: Frame | None, info: ModelInfo, **extra) -> dict:
        x, y = track.centre
        return {
            "event": kind,
            "track_id": track.id,
            "frame": frame.index if frame else track.last_frame,
            "time_ms": round(frame.time_ms if frame else track.last_ms, 3),
            "class_name": info.name(track.class_id),
            "x": round(x, 1),
            "y": round(y, 1),
            **extra,
        }

    def step(
        self, frame: Frame, detections: Detections, appeared: list[Track], tracks: dict[int, Track], buffer: int, info
    ) -> None:
        self._step += 1
        for track in appeared:
            self._write(self._record("appeared", track, frame, info))
        ids = detections.track_ids
        on_track = ids >= 0
        for track_id in ids[on_track]:
            self._seen[int(track_id)] = self._step
        if on_track.any() and (self._lines or self._zones):
            tracked = detections.to_supervision(on_track)
            for name, line in self._lines:
                crossed_in, crossed_out = line.trigger(tracked)
                for track_id, into, out in zip(tracked.tracker_id, crossed_in, crossed_out, strict=True):
                    if into or out:
                        direction = "in" if into else "out"
                        self._write(
                            self._record("crossed", tracks[int(track_id)], frame, info, line=name, direction=direction)
                        )
            for name, zone in self._zones:
                now = {int(t) for t, hit in zip(tracked.tracker_id, zone.trigger(tracked), strict=True) if hit}
                seen = {int(t) for t in tracked.tracker_id}
                before = self._inside[name]
                for track_id in sorted(now - before):
                    self._write(self._record("entered", tracks[track_id], frame, info, zone=name))
                for track_id in sorted((before - now) & seen):  # seen outside; an unseen one keeps its state
                    self._write(self._record("exited", tracks[track_id], frame, info, zone=name))
                self._inside[name] = (before - seen) | now
        for track_id, last in list(self._seen.items()):
            if self._step - last > buffer:
                del self._seen[track_id]
                self._left_event(tracks[track_id], info, end=False)

    def _left_event(self, track: Track, info: ModelInfo, end: bool) -> None:
        for inside in self._inside.values():
            inside.discard(track.id)
        self._write(self._record("left", track, None, info, end=end))

    def finish(self, tracks: dict[int, Track], info: ModelInfo) -> None:
        for track_id in sorted(self._seen):
            self._left_event(tracks[track_id], info, end=True)
        self._seen.clear()
