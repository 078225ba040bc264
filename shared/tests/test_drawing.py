"""The one drawer: labels stay inside the image and off each other; lines and zones carry their counts."""

from __future__ import annotations

import numpy as np

from azaion_shared.drawing import draw_counted, draw_labelled, label_boxes


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_stay_inside_the_image_and_off_each_other():
    size = (200, 100)
    boxes = [(190, 0, 199, 20), (-15, 90, 10, 99), (50, 40, 80, 60), (50, 40, 80, 60), (52, 41, 82, 61)]
    labels = [(60, 14)] * len(boxes)
    corners = label_boxes(size, boxes, labels)
    rects = [(x, y, x + w, y + h) for (x, y), (w, h) in zip(corners, labels, strict=True)]
    for x1, y1, x2, y2 in rects:
        assert x1 >= 0 and x2 <= size[0] and y1 >= 0 and y2 <= size[1]
    assert rects[0] == (140, 0, 200, 14)  # at the top right corner: moved left, and inside its box's top
    assert rects[1] == (0, 76, 60, 90)  # off the left edge: moved right, above its box
    stacked = rects[2:]  # three labels for boxes on the same spot
    assert not any(overlaps(a, b) for i, a in enumerate(stacked) for b in stacked[i + 1 :]), stacked


def test_a_label_at_the_frame_edge_is_drawn_inside_it():
    image = np.zeros((60, 120, 3), np.uint8)
    draw_labelled(image, np.array([[110.0, 2.0, 119.0, 30.0]]), [0], ["car 0.91"])
    label_columns = np.flatnonzero((image[:, :, :] > 0).any(axis=(0, 2)))
    assert label_columns.min() < 100  # the label was moved left to fit, not cut off at x=110
    assert image[:, -1].any()  # and still reaches the box at the right edge


def test_lines_and_zones_are_drawn_with_their_counts():
    image = np.zeros((100, 200, 3), np.uint8)
    draw_counted(image, [(20, 80), (180, 80)], "bridge: in 3, out 1", closed=False)
    assert (image[80, 30:170] > 200).all()  # the line, white
    zone = np.zeros((100, 200, 3), np.uint8)
    draw_counted(zone, [(100, 10), (190, 10), (190, 90), (100, 90)], "gate: 2 inside", closed=True)
    assert (zone[50, 189:192] > 200).any() and (zone[89:92, 150] > 200).any()  # its right and bottom sides
    assert (zone[10:30, 100:190] > 200).sum() > 100  # the count's label at its first corner
