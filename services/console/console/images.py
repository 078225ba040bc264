"""Images of the data browser: the picture with its boxes and class names drawn, scaled down, as JPEG."""

from __future__ import annotations

from pathlib import Path

from azaion_shared.drawing import draw_boxes


def thumbnail(image_path: Path, boxes: list, names: dict[int, str], width: int = 360) -> bytes | None:
    """JPEG bytes of the image with its boxes, ``width`` px wide; None when it cannot be read."""
    import cv2
    import numpy as np

    data = np.fromfile(str(image_path), np.uint8) if image_path.is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        return None
    scale = min(1.0, width / image.shape[1])
    if scale < 1.0:
        image = cv2.resize(image, (width, max(1, round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", draw_boxes(image, boxes, names), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return encoded.tobytes() if ok else None
