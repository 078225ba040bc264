"""Decode YOLO11 output into detections: threshold, class-aware NMS, boxes back to frame pixels.

The model's output for one image is ``(4 + classes, anchors)``: centre x, centre y, width, height in
input pixels, then one score per class. This follows ultralytics' ``non_max_suppression`` (best
class per anchor, ``score > conf``, at most ``max_nms`` candidates by score, classes kept apart by an
offset of ``max_wh`` pixels, greedy NMS, ``max_det`` kept), so the same model gives the same boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from azaion_shared.model_info import ModelInfo
from inference.letterbox import Placement, unletterbox

MAX_WH = 7680
MAX_NMS = 30000


@dataclass(frozen=True)
class Detections:
    """Detections of one frame: ``boxes`` (n, 4) xyxy in frame pixels, ``scores`` (n,), ``classes`` (n,),
    with tracking ``track_ids`` (n,) (-1: not on a confirmed track)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    track_ids: np.ndarray | None = None

    def track_id(self, i: int) -> int | None:
        """The track id of detection ``i``, None without one."""
        if self.track_ids is None or self.track_ids[i] < 0:
            return None
        return int(self.track_ids[i])

    def __len__(self) -> int:
        return len(self.scores)

    def labels(self, info: ModelInfo) -> list[str]:
        """What a drawn box says: ``#12 car 0.83`` (the track id only on a tracked box)."""
        out = []
        for i, (score, cls) in enumerate(zip(self.scores, self.classes, strict=True)):
            track = self.track_id(i)
            out.append(f"{'' if track is None else f'#{track} '}{info.name(int(cls))} {score:.2f}")
        return out

    def to_supervision(self, where: np.ndarray | None = None, **data: np.ndarray):
        """supervision's ``Detections`` of these (those ``where`` is true), for the supervision and trackers
        algorithms (tile merging, ByteTrack, line and zone triggers): the one conversion between the two
        types, made at those libraries' door. ``data``: extra columns that travel with each detection."""
        import supervision as sv

        keep = slice(None) if where is None else where
        return sv.Detections(
            xyxy=self.boxes[keep].astype(np.float32).reshape(-1, 4),
            confidence=self.scores[keep].astype(np.float32),
            class_id=self.classes[keep].astype(np.int64),
            tracker_id=None if self.track_ids is None else self.track_ids[keep],
            data={k: v[keep] for k, v in data.items()},
        )

    @classmethod
    def from_supervision(cls, found) -> Detections:
        return cls(found.xyxy.astype(np.float32), found.confidence.astype(np.float32), found.class_id.astype(np.int64))

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of ``boxes``."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first; a box is dropped when its IoU with a kept one > ``iou``."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = order[0]
        keep.append(int(best))
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[iou_one_to_many(boxes[best], boxes[rest]) <= iou]
    return np.asarray(keep, dtype=np.int64)


def decode(
    output: np.ndarray, conf: float, iou: float, max_det: int = 300, agnostic: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes xyxy in input pixels, scores, classes) of one image's raw output ``(4 + nc, anchors)``."""
    scores_all = output[4:]
    scores = scores_all.max(0)
    candidates = scores > conf  # the best class of only these is looked up: most anchors are background
    if not candidates.any():
        empty = Detections.empty()
        return empty.boxes, empty.scores, empty.classes
    xywh = output[:4, candidates].T.astype(np.float32)
    scores, classes = scores[candidates].astype(np.float32), scores_all[:, candidates].argmax(0)
    if len(scores) > MAX_NMS:
        top = np.argsort(-scores, kind="stable")[:MAX_NMS]
        xywh, scores, classes = xywh[top], scores[top], classes[top]
    boxes = np.empty_like(xywh)
    boxes[:, :2] = xywh[:, :2] - xywh[:, 2:] / 2
    boxes[:, 2:] = xywh[:, :2] + xywh[:, 2:] / 2
    offset = 0 if agnostic else classes[:, None].astype(np.float32) * MAX_WH
    keep = nms(boxes + offset, scores, iou)[:max_det]
    return boxes[keep], scores[keep], classes[keep]


def postprocess(output: np.ndarray, placement: Placement, conf: float, iou: float, max_det: int = 300) -> Detections:
    """Detections of one frame, boxes in the frame's pixels."""
    boxes, scores, classes = decode(output, conf, iou, max_det)
    return Detections(unletterbox(boxes, placement), scores, classes)
