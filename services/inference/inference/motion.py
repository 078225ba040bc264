"""Camera motion compensation: a drone's camera pans and zooms, so the tracker works on the ground.

ByteTrack predicts each box with a constant-velocity Kalman filter and matches by overlap. On a
moving camera every object, parked cars included, races across the frame, and with ``--every N``
it moves N times farther between two looks: boxes stop overlapping and identities break. BoT-SORT
answers this with global motion compensation; we do the same in front of the tracker: the motion of
the camera from one processed frame to the next is estimated (corners tracked by OpenCV's pyramidal
Lucas-Kanade optical flow on a small grey copy of the frame, a similarity transform fitted with
RANSAC), accumulated, and every detection is handed to the tracker in the coordinates of the first
frame — the ground. There, a parked car stands still and a driving one moves at its own speed.

The boxes written out stay in frame pixels; only the tracker (and the tracks' path length) sees
ground coordinates. When the estimate fails (a cut, a blank frame), the transform is kept as it was.

Cost (issue 29: the whole tracking stage within a tenth of yolo11n's time at 320 px): corners are
found once and then followed from frame to frame, as a KLT tracker does; only the ones that agreed
with the last fit (RANSAC's inliers: on the ground, not on a moving car) are carried on, and new
ones are found when fewer than half are left or every ``REFRESH`` frames. One frame costs a small
resize, a grey conversion and the flow of at most ``CORNERS`` points.
"""

from __future__ import annotations

import cv2
import numpy as np

#: the grey copy's longer side; enough corners for a stable fit at a fraction of the full frame's cost
WIDTH = 320
CORNERS = 60  # followed at once: a similarity has 4 unknowns, RANSAC wants many more
REFRESH = 15  # frames between new corners at the latest
_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``outer(inner(p))``."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


class CameraMotion:
    """:meth:`to_ground` maps a frame's boxes into the first frame's pixels."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None  # grey, small
        self._corners: np.ndarray | None = None  # on the previous grey frame, (n, 1, 2) float32
        self._age = 0  # frames since the corners were found
        self._scale = 1.0
        self.ground_from_frame = _IDENTITY.copy()

    def update(self, image: np.ndarray) -> np.ndarray:
        """Take the next processed frame (BGR); returns the 2x3 affine from its pixels to the ground."""
        height, width = image.shape[:2]
        scale = min(1.0, WIDTH / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # linear, not area: 60 times cheaper on a 4K frame, and corners are found on it all the same
        small = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            self._scale, self._corners = scale, None
            return self.ground_from_frame
        step = self._step(previous, grey)  # current small pixels -> previous small pixels
        if step is not None:
            to_small = np.array([[scale, 0, 0], [0, scale, 0]])
            from_small = np.array([[1 / scale, 0, 0], [0, 1 / scale, 0]])
            self.ground_from_frame = _compose(self.ground_from_frame, _compose(from_small, _compose(step, to_small)))
        return self.ground_from_frame

    def _step(self, previous: np.ndarray, current: np.ndarray) -> np.ndarray | None:
        corners, self._corners = self._corners, None
        if corners is None or len(corners) < CORNERS // 2 or self._age >= REFRESH:
            corners = cv2.goodFeaturesToTrack(previous, maxCorners=CORNERS, qualityLevel=0.01, minDistance=8)
            self._age = 0
            if corners is None or len(corners) < 8:
                return None
        found, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, corners, None, winSize=(11, 11), maxLevel=3)
        good = status.reshape(-1) == 1
        if good.sum() < 8:
            return None
        matrix, inliers = cv2.estimateAffinePartial2D(
            found[good], corners[good], method=cv2.RANSAC, ransacReprojThreshold=2.0
        )
        if matrix is not None:
            height, width = current.shape
            kept = found[good][inliers.reshape(-1) == 1]
            inside = (kept[:, 0, 0] >= 0) & (kept[:, 0, 0] < width) & (kept[:, 0, 1] >= 0) & (kept[:, 0, 1] < height)
            self._corners, self._age = kept[inside], self._age + 1
        return matrix

    def to_ground(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes of the latest frame -> xyxy boxes on the ground (the box around the mapped corners)."""
        if len(boxes) == 0:
            return boxes.reshape(-1, 4)
        m = self.ground_from_frame
        xs, ys = boxes[:, [0, 2, 0, 2]], boxes[:, [1, 1, 3, 3]]
        gx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        gy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        return np.stack([gx.min(1), gy.min(1), gx.max(1), gy.max(1)], axis=1).astype(np.float32)
