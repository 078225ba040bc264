"""Test data for the stream: small distinct JPEGs, messages, and a model of the expected data root."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path

from azaion_shared.labels import Box, format_labels
from azaion_shared.messages import Annotation, AnnotationStatus, BulkAction, Detection, Message


def make_jpeg(seed: int, width: int = 64, height: int = 48, quality: int = 85) -> bytes:
    """A small JPEG whose pixels depend on ``seed`` (distinct bytes per seed)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.rectangle([x, y, x + rng.randrange(4, 20), y + rng.randrange(4, 20)], fill=(rng.randrange(256),) * 3)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def grid_boxes(rng: random.Random, count: int) -> list[Box]:
    """Boxes on a 1/64 grid, well inside the image: exact in binary, unchanged by correction."""
    boxes = []
    for _ in range(count):
        w, h = rng.randrange(2, 16) / 64, rng.randrange(2, 16) / 64
        cx = rng.randrange(16, 48) / 64
        cy = rng.randrange(16, 48) / 64
        boxes.append(Box(rng.randrange(10), cx, cy, w, h))
    return boxes


def annotation(
    name: str, seed: int, role: str, status=AnnotationStatus.CREATED, boxes=None, size=(64, 48)
) -> Annotation:
    rng = random.Random(seed)
    boxes = grid_boxes(rng, rng.randrange(0, 4)) if boxes is None else boxes
    return Annotation(
        status=status,
        name=name,
        image=make_jpeg(seed, *size),
        detections=tuple(
            Detection(class_num=b.class_id, center_x=b.cx, center_y=b.cy, width=b.w, height=b.h) for b in boxes
        ),
        role=role,
    )


@dataclass
class Expected:
    """What the data root must hold after a sequence of messages (the contract, as a model)."""

    live: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)  # name -> (folder, image, label)
    deleted: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def apply(self, message: Message) -> None:
        if isinstance(message, Annotation):
            label = format_labels(
                Box(d.class_num, d.center_x, d.center_y, d.width, d.height) for d in message.detections
            )
            by_role = "data" if message.role.lower() in ("validator", "admin") else "data-seed"
            folder = by_role
            if message.status == AnnotationStatus.EDITED and message.name in self.live:
                folder = self.live[message.name][0]
            self.live[message.name] = (folder, message.image, label)
        elif message.status == AnnotationStatus.VALIDATED:
            for name in message.names:
                if name in self.live and self.live[name][0] == "data-seed":
                    self.live[name] = ("data", *self.live[name][1:])
        else:
            for name in message.names:
                if name in self.live:
                    _folder, image, label = self.live.pop(name)
                    self.deleted[name] = (image, label)

    def files(self) -> dict[str, bytes]:
        out = {}
        for name, (folder, image, label) in self.live.items():
            out[f"{folder}/images/{name}.jpg"] = image
            out[f"{folder}/labels/{name}.txt"] = label.encode()
        for name, (image, label) in self.deleted.items():
            out[f"data_deleted/images/{name}.jpg"] = image
            out[f"data_deleted/labels/{name}.txt"] = label.encode()
        return out


PAIR_FOLDERS = ("data", "data-seed", "data_deleted")


def actual_files(root: Path) -> dict[str, bytes]:
    """Every file under the pair folders of ``root`` (temporary files included, so they show up)."""
    out = {}
    for folder in PAIR_FOLDERS:
        base = root / folder
        if base.exists():
            for path in base.rglob("*"):
                if path.is_file():
                    out[str(path.relative_to(root))] = path.read_bytes()
    return out


def random_workload(count: int, seed: int = 7, size=(64, 48)) -> list[Message]:
    """Created/Edited/Validated/Deleted in a realistic mix over a growing set of names."""
    rng = random.Random(seed)
    messages: list[Message] = []
    names: list[str] = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.55 or len(names) < 5:
            name = f"img-{i:05d}"
            names.append(name)
            role = rng.choice(["Operator", "Operator", "Validator"])
            messages.append(annotation(name, rng.randrange(10**9), role, size=size))
        elif roll < 0.75:
            role = rng.choice(["Operator", "Admin"])
            messages.append(
                annotation(rng.choice(names), rng.randrange(10**9), role, AnnotationStatus.EDITED, size=size)
            )
        elif roll < 0.9:
            messages.append(BulkAction(status=AnnotationStatus.VALIDATED, names=tuple(rng.sample(names, 3))))
        else:
            messages.append(BulkAction(status=AnnotationStatus.DELETED, names=tuple(rng.sample(names, 2))))
    return messages
