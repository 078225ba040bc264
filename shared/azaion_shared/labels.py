"""YOLO label files: ``class cx cy w h`` per line, normalised to 0..1.

Parsing validates every line and raises :class:`LabelError` naming the file
and the line, so a broken label is reported where it is, not deep in training.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from azaion_shared.errors import LabelError

#: Decimal places written for coordinates; 1e-6 of a 10k px image is 0.01 px.
PRECISION = 6


@dataclass(frozen=True)
class Box:
    """One YOLO box, normalised: centre (cx, cy), size (w, h), all in 0..1."""

    class_id: int
    cx: float
    cy: float
    w: float
    h: float

    def corners(self) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2), normalised."""
        return (self.cx - self.w / 2, self.cy - self.h / 2, self.cx + self.w / 2, self.cy + self.h / 2)

    @classmethod
    def from_corners(cls, class_id: int, x1: float, y1: float, x2: float, y2: float) -> Box:
        return cls(class_id, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)


def parse_line(
    text: str, source: str | Path | None = None, line: int | None = None, num_classes: int | None = None
) -> Box:
    """Parse one non-blank label line; every problem becomes a LabelError with its place."""
    parts = text.split()
    if len(parts) != 5:
        raise LabelError(f"expected 5 columns 'class cx cy w h', got {len(parts)}: {text.strip()[:80]!r}", source, line)
    try:
        class_id = int(parts[0])
    except ValueError:
        raise LabelError(f"class id {parts[0]!r} is not an integer", source, line) from None
    if class_id < 0 or (num_classes is not None and class_id >= num_classes):
        limit = f" (0..{num_classes - 1})" if num_classes is not None else ""
        raise LabelError(f"unknown class id {class_id}{limit}", source, line)
    values = []
    for column, raw in zip(("cx", "cy", "w", "h"), parts[1:], strict=True):
        try:
            value = float(raw)
        except ValueError:
            raise LabelError(f"{column} {raw!r} is not a number", source, line) from None
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise LabelError(f"{column}={raw} is outside 0..1", source, line)
        values.append(value)
    if values[2] <= 0.0 or values[3] <= 0.0:
        raise LabelError(f"box has zero size (w={parts[3]}, h={parts[4]})", source, line)
    return Box(class_id, *values)


def parse_labels(text: str, source: str | Path | None = None, num_classes: int | None = None) -> list[Box]:
    """Parse a whole label file's text; blank lines are allowed, anything else must be a box."""
    boxes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            boxes.append(parse_line(line, source, number, num_classes))
    return boxes


def read_labels(path: str | Path, num_classes: int | None = None) -> list[Box]:
    """Read and parse a label file; an unreadable or non-UTF-8 file is a LabelError too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"cannot read label file: {exc}", path) from exc
    return parse_labels(text, path, num_classes)


def format_box(box: Box) -> str:
    return f"{box.class_id} {box.cx:.{PRECISION}f} {box.cy:.{PRECISION}f} {box.w:.{PRECISION}f} {box.h:.{PRECISION}f}"


def format_labels(boxes: Iterable[Box]) -> str:
    """The text of a label file: one line per box, newline-terminated (empty for no boxes)."""
    return "".join(format_box(box) + "\n" for box in boxes)
