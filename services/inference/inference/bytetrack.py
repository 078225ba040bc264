"""ByteTrack over arrays: the algorithm and parameters of Roboflow's ``trackers`` (2.1.0), every track's
Kalman filter in one array instead of one object each.

Why our own and not the library's (issue 29): ``trackers.ByteTrackTracker`` keeps one Python object
per track and one ``supervision.Detections`` per detection, deep-copied at every step; on this CPU
that cost 3.2 ms a frame for about 11 detections, a fifth of yolo11n's own time at 320 px, where the
goal is a tenth for the whole tracking stage. This module does the same steps with NumPy over all
tracks at once, and keeps the library's behaviour, which the MOT metrics of
``tests/test_aerial_video.py`` and ``services/inference/tests/test_bytetrack.py`` (against the library
itself, step by step) hold it to:

1. every track's constant-velocity Kalman filter predicts (state: the box's x1 y1 x2 y2 and their
   velocities; process noise 0.01, measurement noise 0.1, initial covariance 1);
2. detections with confidence >= ``high`` are matched to all tracks by IoU (optimal assignment,
   scipy's ``linear_sum_assignment``, a pair needs IoU >= ``min_iou``); matched tracks update;
3. the tracks left over are matched the same way to the detections below ``high``;
4. an unmatched detection with confidence >= ``activation`` starts a track;
5. a track gets its id once it has been matched ``min_frames`` times (ids 1, 2, 3 ... per tracker);
   a track unmatched for ``buffer`` steps ends, and one that never got an id ends when first missed.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

_F = np.eye(8)
_F[:4, 4:] = np.eye(4)  # position += velocity at every step
_Q = np.eye(8) * 0.01
_R = np.eye(4) * 0.1


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box of ``a`` (rows) with every box of ``b`` (columns)."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    overlap = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return overlap / np.maximum(area_a[:, None] + area_b[None, :] - overlap, 1e-9)


class ByteTrack:
    """:meth:`update` takes one frame's boxes and confidences and returns a track id per box (-1: none)."""

    def __init__(self, buffer: int, activation: float, high: float, min_frames: int, min_iou: float = 0.1):
        self.buffer, self.activation, self.high = buffer, activation, high
        self.min_frames, self.min_iou = min_frames, min_iou
        self.state = np.zeros((0, 8))  # x1 y1 x2 y2 and their velocities, one row per track
        self.cov = np.zeros((0, 8, 8))
        self.hits = np.zeros(0, np.int64)  # times matched (the first detection counts)
        self.missed = np.zeros(0, np.int64)  # steps since last matched
        self.ids = np.zeros(0, np.int64)  # -1 until the track has min_frames hits
        self._next_id = 1

    def update(self, boxes: np.ndarray, confidences: np.ndarray) -> np.ndarray:
        count = len(boxes)
        out = np.full(count, -1, np.int64)
        if len(self.state) == 0 and count == 0:
            return out
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self.state = self.state @ _F.T
        self.cov = _F @ self.cov @ _F.T + _Q
        self.missed += 1
        high = np.flatnonzero(confidences >= self.high)
        low = np.flatnonzero(confidences < self.high)
        left, unmatched_high = self._associate(np.arange(len(self.state)), high, boxes, out)
        self._associate(left, low, boxes, out)
        spawn = unmatched_high[confidences[unmatched_high] >= self.activation]
        self._spawn(boxes[spawn])
        alive = (self.missed < self.buffer) & ((self.hits >= self.min_frames) | (self.missed == 0))
        self.state, self.cov, self.hits = self.state[alive], self.cov[alive], self.hits[alive]
        self.missed, self.ids = self.missed[alive], self.ids[alive]
        return out

    def _associate(self, tracks: np.ndarray, dets: np.ndarray, boxes: np.ndarray, out: np.ndarray):
        """Match ``tracks`` (rows of the state) to detections ``dets`` by IoU, update the matched tracks
        and write their ids into ``out``; returns the tracks and the detections left unmatched."""
        if len(tracks) == 0 or len(dets) == 0:
            return tracks, dets
        similarity = iou_matrix(self.state[tracks, :4], boxes[dets])
        rows, cols = linear_sum_assignment(similarity, maximize=True)
        keep = similarity[rows, cols] >= self.min_iou
        rows, cols = rows[keep], cols[keep]
        matched_tracks, matched_dets = tracks[rows], dets[cols]
        self._correct(matched_tracks, boxes[matched_dets])
        out[matched_dets] = self.ids[matched_tracks]
        track_left, det_left = np.ones(len(tracks), bool), np.ones(len(dets), bool)
        track_left[rows], det_left[cols] = False, False
        return tracks[track_left], dets[det_left]

    def _correct(self, tracks: np.ndarray, measured: np.ndarray) -> None:
        """The Kalman update of ``tracks`` with their measured boxes; ids for tracks now old enough."""
        if len(tracks) == 0:
            return
        cov = self.cov[tracks]
        gain = cov[:, :, :4] @ np.linalg.inv(cov[:, :4, :4] + _R)  # P H^T (H P H^T + R)^-1
        residual = measured - self.state[tracks, :4]
        self.state[tracks] += (gain @ residual[:, :, None])[:, :, 0]
        self.cov[tracks] = cov - gain @ cov[:, :4, :]  # (I - K H) P
        self.missed[tracks] = 0
        self.hits[tracks] += 1
        for track in tracks[(self.hits[tracks] >= self.min_frames) & (self.ids[tracks] < 0)]:
            self.ids[track], self._next_id = self._next_id, self._next_id + 1

    def _spawn(self, boxes: np.ndarray) -> None:
        count = len(boxes)
        if count == 0:
            return
        state = np.zeros((count, 8))
        state[:, :4] = boxes
        self.state = np.vstack([self.state, state])
        self.cov = np.concatenate([self.cov, np.broadcast_to(np.eye(8), (count, 8, 8))])
        self.hits = np.concatenate([self.hits, np.ones(count, np.int64)])
        self.missed = np.concatenate([self.missed, np.zeros(count, np.int64)])
        self.ids = np.concatenate([self.ids, np.full(count, -1, np.int64)])
