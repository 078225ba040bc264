"""Synthetic aerial scenes: top-down ground, vehicles, buildings and people, with exact YOLO labels.

**Synthetic** — drawn with OpenCV, not photographed: a stand-in for real drone imagery that lets a
first run train a model that visibly detects, and lets tests check detections against ground
truth. Everything is deterministic from a seed.

- :func:`scene` draws one image: a ground texture (field, asphalt, sand or snow, with roads), and
  objects of the project's classes seen from above at random rotation, scale, colour, shading and
  with a shadow; it returns the image and the boxes (pixel corners and class ids).
- :func:`write_dataset` writes ``images/*.jpg`` + ``labels/*.txt`` (YOLO) for N scenes.
- :class:`Flyover` is a larger world with roads and moving vehicles, seen by a camera that pans and
  zooms across it; :func:`write_flyover` writes the video and, beside it, the ground-truth boxes of
  every frame (one JSON line per frame, in the detections format of DESIGN.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from azaion_shared.progress import progress

#: The classes drawn, by the project's ids (trainer/classes.yaml).
CLASSES = {0: "person", 1: "car", 2: "truck", 6: "armored_vehicle", 13: "building"}
GROUNDS = ("field", "asphalt", "sand", "snow")
#: Object sizes in metres (length, width); people are drawn as a disc of their shoulder width.
SIZES = {0: (1.4, 1.4), 1: (4.5, 1.9), 2: (9.0, 2.5), 6: (7.0, 3.4), 13: (14.0, 10.0)}
MIN_VISIBLE = 0.5  # a box cut by the frame edge counts when at least this share of it is inside
MIN_SIDE = 4.0  # ... and when what is inside is at least this many pixels wide and high


@dataclass
class Thing:
    """An object in world pixels: centre, heading (radians), size (px), colour, class; ``velocity``
    in px per frame for moving vehicles."""

    cls: int
    x: float
    y: float
    heading: float
    length: float
    width: float
    colour: tuple[int, int, int]
    accent: tuple[int, int, int]
    velocity: tuple[float, float] = (0.0, 0.0)
    extra: dict = field(default_factory=dict)

    def at(self, frame: int) -> Thing:
        """Where this thing is ``frame`` frames on (a moving vehicle has driven on; a parked one has not)."""
        return replace(self, x=self.x + self.velocity[0] * frame, y=self.y + self.velocity[1] * frame)

    def corners(self) -> np.ndarray:
        return _rect(self.x, self.y, self.length, self.width, self.heading)

    def box(self) -> tuple[float, float, float, float]:
        if self.cls == 0:
            r = self.length / 2
            return self.x - r, self.y - r, self.x + r, self.y + r
        pts = self.corners()
        return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def _rect(x: float, y: float, length: float, width: float, heading: float) -> np.ndarray:
    c, s = math.cos(heading), math.sin(heading)
    half = np.array([[-length, -width], [length, -width], [length, width], [-length, width]]) / 2
    rot = np.array([[c, -s], [s, c]])
    return half @ rot.T + np.array([x, y])


# --- ground ---------------------------------------------------------------------------------------
def _noise(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    small = rng.random((max(2, shape[0] // scale), max(2, shape[1] // scale))).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def ground(rng: np.random.Generator, height: int, width: int, kind: str | None = None) -> np.ndarray:
    """A BGR ground texture: low-frequency patches, fine grain, and the marks of its kind."""
    kind = kind or GROUNDS[int(rng.integers(len(GROUNDS)))]
    base = {
        "field": (60, 125, 85),
        "asphalt": (92, 92, 96),
        "sand": (140, 185, 205),
        "snow": (235, 232, 228),
    }[kind]
    base = np.array(base, np.float32) * rng.uniform(0.85, 1.15)
    patches = _noise(rng, (height, width), 48)[..., None] - 0.5
    grain = rng.normal(0, 1, (height, width, 1)).astype(np.float32)
    amplitude = {"field": 40, "asphalt": 14, "sand": 28, "snow": 10}[kind]
    image = base + patches * amplitude * 2 + grain * amplitude * 0.35
    if kind == "field":  # furrows
        angle, period = rng.uniform(0, math.pi), rng.uniform(5, 11)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        stripes = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period)
        image += stripes[..., None] * 9
    elif kind == "sand":  # ripples
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        image += np.sin((xx * 0.7 + yy * 0.3 + _noise(rng, (height, width), 30) * 40) * 0.35)[..., None] * 7
    return np.clip(image, 0, 255).astype(np.uint8)


def road(image: np.ndarray, rng: np.random.Generator, start, end, width_px: float) -> None:
    """An asphalt road with a dashed centre line, from ``start`` to ``end`` (pixels)."""
    grey = int(rng.integers(70, 105))
    cv2.line(image, _pt(start), _pt(end), (grey, grey, grey + 3), max(2, int(width_px)), cv2.LINE_AA)
    length = math.dist(start, end)
    steps = int(length // max(6.0, width_px))
    for i in range(0, steps, 2):
        a = np.add(start, np.subtract(end, start) * (i / steps))
        b = np.add(start, np.subtract(end, start) * ((i + 0.8) / steps))
        cv2.line(image, _pt(a), _pt(b), (200, 200, 200), max(1, int(width_px / 14)), cv2.LINE_AA)


def _pt(p) -> tuple[int, int]:
    return round(float(p[0])), round(float(p[1]))


# --- objects --------------------------------------------------------------------------------------
VEHICLE_COLOURS = [
    (40, 40, 200),
    (200, 200, 200),
    (30, 30, 30),
    (180, 120, 40),
    (60, 160, 220),
    (230, 230, 235),
    (90, 60, 140),
    (40, 120, 60),
    (150, 150, 150),
    (20, 60, 120),
]


def make_thing(rng: np.random.Generator, cls: int, x: float, y: float, px_per_m: float, heading=None) -> Thing:
    length, width = SIZES[cls]
    scale = px_per_m * rng.uniform(0.85, 1.2)
    heading = rng.uniform(0, 2 * math.pi) if heading is None else heading
    if cls == 13:
        length, width = length * rng.uniform(0.7, 1.6), width * rng.uniform(0.7, 1.5)
        roof = [(60, 60, 160), (90, 90, 95), (70, 110, 150), (150, 150, 150), (40, 70, 110)]
        colour = roof[int(rng.integers(len(roof)))]
        accent = tuple(int(c * 0.75) for c in colour)
    elif cls == 6:
        colour = (int(rng.integers(40, 70)), int(rng.integers(85, 115)), int(rng.integers(80, 105)))
        accent = tuple(int(c * 0.7) for c in colour)
    elif cls == 0:
        colour = tuple(int(v) for v in rng.integers(20, 230, 3))
        accent = (40, 50, 70)
    else:
        colour = VEHICLE_COLOURS[int(rng.integers(len(VEHICLE_COLOURS)))]
        accent = VEHICLE_COLOURS[int(rng.integers(len(VEHICLE_COLOURS)))] if cls == 2 else (40, 40, 45)
    colour = tuple(int(np.clip(c * rng.uniform(0.8, 1.15), 0, 255)) for c in colour)
    length, width = length * scale, width * scale
    if cls == 0:  # a figure no smaller than a label may be (MIN_SIDE), or it would be drawn unlabelled
        length = width = max(length, MIN_SIDE + 1.5)
    return Thing(cls, x, y, heading, length, width, colour, accent)


def draw(image: np.ndarray, thing: Thing, shadow: tuple[float, float], transform=None) -> None:
    """Draw ``thing`` (world pixels) on ``image``; ``transform`` maps world points to image points
    (a 2x3 affine), and scales sizes with it."""
    m = np.array([[1, 0, 0], [0, 1, 0]], np.float64) if transform is None else transform
    zoom = math.hypot(m[0, 0], m[1, 0])

    def to_image(points: np.ndarray) -> np.ndarray:
        return points @ m[:, :2].T + m[:, 2]

    def poly(points: np.ndarray, colour) -> None:
        cv2.fillPoly(image, [np.round(to_image(points) * 16).astype(np.int32)], colour, cv2.LINE_AA, shift=4)

    x, y, h = thing.x, thing.y, thing.heading
    off = np.array(shadow) * max(thing.width, 2.0) * (0.22 if thing.cls == 13 else 0.35)
    if thing.cls == 0:
        centre = to_image(np.array([[x, y]]))[0]
        r = max(1.5, thing.length / 2 * zoom)
        tail = to_image(np.array([[x + off[0] * 2, y + off[1] * 2]]))[0]
        cv2.line(image, _pt(centre), _pt(tail), (35, 35, 35), max(1, int(r)), cv2.LINE_AA)
        cv2.circle(image, _pt(centre), round(float(r)), thing.colour, -1, cv2.LINE_AA)
        cv2.circle(image, _pt(centre), max(1, round(float(r) * 0.45)), thing.accent, -1, cv2.LINE_AA)
        return
    body = thing.corners()
    _darken(image, np.round(to_image(body + off)).astype(np.int32), 0.55)
    poly(body, thing.colour)
    c, s = math.cos(h), math.sin(h)
    forward, side = np.array([c, s]), np.array([-s, c])
    L, W = thing.length, thing.width
    if thing.cls == 1:  # windscreen, rear window, roof
        for at, depth in ((0.22, 0.16), (-0.3, 0.12)):
            centre = np.array([x, y]) + forward * L * at
            poly(_rect(*centre, L * depth, W * 0.8, h), (50, 40, 35))
        poly(
            _rect(x - c * L * 0.04, y - s * L * 0.04, L * 0.3, W * 0.78, h),
            tuple(min(255, v + 25) for v in thing.colour),
        )
    elif thing.cls == 2:  # cab and cargo box
        cab = np.array([x, y]) + forward * L * 0.38
        poly(_rect(*cab, L * 0.22, W * 0.95, h), thing.accent)
        box = np.array([x, y]) - forward * L * 0.1
        poly(_rect(*box, L * 0.72, W, h), tuple(min(255, v + 40) for v in thing.colour))
        cv2.line(
            image,
            _pt(to_image((box + side * W * 0.45)[None])[0]),
            _pt(to_image((box - side * W * 0.45)[None])[0]),
            (90, 90, 90),
            1,
            cv2.LINE_AA,
        )
    elif thing.cls == 6:  # tracks, turret, barrel
        for sign in (1, -1):
            track = np.array([x, y]) + side * W * 0.4 * sign
            poly(_rect(*track, L * 0.98, W * 0.2, h), (35, 40, 40))
        turret = to_image(np.array([[x - c * L * 0.05, y - s * L * 0.05]]))[0]
        barrel = to_image(np.array([[x + c * L * 0.75, y + s * L * 0.75]]))[0]
        cv2.line(image, _pt(turret), _pt(barrel), thing.accent, max(1, int(W * zoom * 0.12)), cv2.LINE_AA)
        cv2.circle(image, _pt(turret), max(2, int(W * zoom * 0.32)), thing.accent, -1, cv2.LINE_AA)
    elif thing.cls == 13:  # ridge and edges
        a = to_image((np.array([x, y]) + forward * L * 0.45)[None])[0]
        b = to_image((np.array([x, y]) - forward * L * 0.45)[None])[0]
        cv2.line(image, _pt(a), _pt(b), thing.accent, max(1, int(W * zoom * 0.05)), cv2.LINE_AA)
        cv2.polylines(image, [np.round(to_image(body)).astype(np.int32)], True, thing.accent, 1, cv2.LINE_AA)


def _darken(image: np.ndarray, polygon: np.ndarray, factor: float) -> None:
    x0, y0 = np.maximum(polygon.min(axis=0), 0)
    x1, y1 = np.minimum(polygon.max(axis=0) + 1, [image.shape[1], image.shape[0]])
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [polygon - [x0, y0]], 255, cv2.LINE_AA)
    region = image[y0:y1, x0:x1].astype(np.float32)
    alpha = (mask.astype(np.float32) / 255 * (1 - factor))[..., None]
    image[y0:y1, x0:x1] = (region * (1 - alpha)).astype(np.uint8)


# --- one scene ------------------------------------------------------------------------------------
@dataclass
class Box:
    cls: int
    x1: float
    y1: float
    x2: float
    y2: float
    moving: bool = False  # a vehicle driving in a flyover
    id: int = -1  # in a flyover: which object (the same from frame to frame), for tracking metrics

    def yolo(self, width: int, height: int) -> str:
        cx, cy = (self.x1 + self.x2) / 2 / width, (self.y1 + self.y2) / 2 / height
        w, h = (self.x2 - self.x1) / width, (self.y2 - self.y1) / height
        return f"{self.cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def scene(seed: int, width: int = 320, height: int = 320, objects: bool = True) -> tuple[np.ndarray, list[Box]]:
    """One synthetic aerial image and its boxes (pixels), deterministic from ``seed``. ``objects=False``
    draws the same scene without its objects (the same ground, roads and light: for checking labels)."""
    rng = np.random.default_rng(seed)
    image = ground(rng, height, width)
    px_per_m = rng.uniform(3.0, 5.5)
    shadow_angle = rng.uniform(0, 2 * math.pi)
    shadow = (math.cos(shadow_angle), math.sin(shadow_angle))
    roads = []
    for _ in range(int(rng.integers(0, 3))):
        horizontal = rng.random() < 0.5
        at = rng.uniform(0.15, 0.85)
        start, end = ((0, at * height), (width, at * height)) if horizontal else ((at * width, 0), (at * width, height))
        road(image, rng, start, end, 7.5 * px_per_m)
        roads.append((horizontal, at * (height if horizontal else width)))
    things: list[Thing] = []
    for horizontal, at in roads:  # traffic: vehicles in a lane, along the road
        for _ in range(int(rng.integers(0, 4))):
            cls = int(rng.choice([1, 1, 1, 2, 2, 6]))
            lane = at + rng.choice([-1.0, 1.0]) * 1.7 * px_per_m
            along = rng.uniform(0, width if horizontal else height)
            x, y = (along, lane) if horizontal else (lane, along)
            heading = (0.0 if horizontal else math.pi / 2) + rng.choice([0.0, math.pi]) + rng.normal(0, 0.03)
            thing = make_thing(rng, cls, x, y, px_per_m, heading)
            if not any(_overlap(thing.box(), other.box()) for other in things):
                things.append(thing)
    weights = {1: 0.34, 2: 0.18, 6: 0.16, 13: 0.12, 0: 0.20}
    classes, probabilities = list(weights), np.array(list(weights.values()))
    for _ in range(int(rng.integers(3, 11))):
        cls = int(rng.choice(classes, p=probabilities / probabilities.sum()))
        for _attempt in range(20):
            thing = make_thing(rng, cls, rng.uniform(0, width), rng.uniform(0, height), px_per_m)
            if not any(_overlap(thing.box(), other.box()) for other in things):
                things.append(thing)
                break
    for thing in sorted(things, key=lambda t: t.cls != 13) if objects else ():  # buildings under the rest
        draw(image, thing, shadow)
    image = _shade(rng, image)
    return image, [b for t in things if (b := _clip(t.cls, t.box(), width, height)) is not None]


def _overlap(a, b, margin: float = 2.0) -> bool:
    return not (a[2] + margin < b[0] or b[2] + margin < a[0] or a[3] + margin < b[1] or b[3] + margin < a[1])


def _clip(cls: int, box, width: int, height: int, moving: bool = False, ident: int = -1) -> Box | None:
    x1, y1, x2, y2 = box
    area = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)
    inside = max(0.0, cx2 - cx1) * max(0.0, cy2 - cy1)
    if area <= 0 or inside / area < MIN_VISIBLE or cx2 - cx1 < MIN_SIDE or cy2 - cy1 < MIN_SIDE:
        return None
    return Box(cls, cx1, cy1, cx2, cy2, moving, ident)


def _shade(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Overall light: brightness, a vignette-like gradient, a little blur (haze)."""
    width = image.shape[1]
    gain = rng.uniform(0.8, 1.15)
    gradient = np.linspace(rng.uniform(0.9, 1.05), rng.uniform(0.9, 1.05), width, dtype=np.float32)[None, :, None]
    shaded = np.clip(image.astype(np.float32) * gain * gradient, 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(shaded, (3, 3), 0) if rng.random() < 0.4 else shaded


def write_dataset(folder: str | Path, count: int, seed: int = 0, size: int = 320, show_progress: bool = False) -> Path:
    """``count`` scenes as ``folder/images/synth-{i}.jpg`` + ``folder/labels/synth-{i}.txt``; with
    ``show_progress``, how far along on standard error (azaion_shared.progress)."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    indices = progress(range(count), "synth dataset", "scene") if show_progress else range(count)
    for i in indices:
        image, boxes = scene(seed * 1_000_003 + i, size, size)
        cv2.imwrite(str(folder / "images" / f"synth-{seed}-{i:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        (folder / "labels" / f"synth-{seed}-{i:05d}.txt").write_text("".join(b.yolo(size, size) + "\n" for b in boxes))
    return folder


# --- a flyover --------------------------------------------------------------------------------------
class Flyover:
    """A world of ``world`` pixels with roads, buildings, parked and moving vehicles, filmed by a camera
    that pans from one side to the other and zooms in and out. ``static`` objects stand off the road;
    every object keeps its id from frame to frame (the ground truth of tracking). :meth:`aerial_4k`:
    a 4K flyover at 3.5 px per metre, where cars are about 16 px long and trucks 32."""

    def __init__(
        self,
        seed: int = 0,
        world=(2400, 900),
        frame=(640, 360),
        frames: int = 120,
        px_per_m: float = 8.5,
        static: int = 34,
    ):
        rng = np.random.default_rng(seed)
        self.rng, self.frame_size, self.frames = rng, frame, frames
        width, height = world
        self.world = ground(rng, height, width, GROUNDS[int(rng.integers(len(GROUNDS)))])
        shadow_angle = rng.uniform(0, 2 * math.pi)
        self.shadow = (math.cos(shadow_angle), math.sin(shadow_angle))
        self.static: list[Thing] = []
        self.moving: list[Thing] = []
        lanes = [height * f for f in (0.42, 0.58)]
        for y in lanes:
            road(self.world, rng, (0, y), (width, y), 8 * px_per_m)
        slots = max(9, round(width / 260))  # places along a lane, about five in nine taken
        for y, direction in zip(lanes, (1, -1), strict=True):
            for x in np.linspace(100, width - 100, slots)[rng.permutation(slots)[: round(slots * 5 / 9)]]:
                cls = int(rng.choice([1, 1, 2, 6]))
                thing = make_thing(
                    rng, cls, float(x), y + direction * 1.6 * px_per_m, px_per_m, 0.0 if direction > 0 else math.pi
                )
                thing.velocity = (direction * rng.uniform(1.2, 3.5), 0.0)
                self.moving.append(thing)
        for _ in range(static):
            cls = int(rng.choice([13, 13, 1, 2, 6, 0]))
            for _attempt in range(30):
                thing = make_thing(rng, cls, rng.uniform(40, width - 40), rng.uniform(40, height - 40), px_per_m)
                near_road = any(abs(thing.y - y) < 10 * px_per_m for y in lanes)
                if not near_road and not any(_overlap(thing.box(), o.box(), 6) for o in self.static):
                    self.static.append(thing)
                    break
        for thing in sorted(self.static, key=lambda t: t.cls != 13):
            draw(self.world, thing, self.shadow)

    @classmethod
    def aerial_4k(cls, seed: int = 0, frames: int = 12) -> Flyover:
        """3840 x 2160 frames of a wide world with small objects (the sliced-inference case)."""
        return cls(seed, world=(5200, 2900), frame=(3840, 2160), frames=frames, px_per_m=3.5, static=260)

    def camera(self, index: int) -> np.ndarray:
        """The 2x3 affine from world to frame pixels at frame ``index``: a pan along the world with a
        slow zoom in and out."""
        t = index / max(1, self.frames - 1)
        fw, fh = self.frame_size
        height, width = self.world.shape[:2]
        zoom = 1.0 + 0.25 * math.sin(t * math.pi * 2)  # frame pixels per world pixel
        view_w, view_h = fw / zoom, fh / zoom
        cx = view_w / 2 + t * (width - view_w)
        cy = height / 2 + math.sin(t * math.pi * 3) * max(0.0, height - view_h) / 2 * 0.6
        return np.array([[zoom, 0, fw / 2 - zoom * cx], [0, zoom, fh / 2 - zoom * cy]], np.float64)

    def __iter__(self) -> Iterator[tuple[np.ndarray, list[Box]]]:
        fw, fh = self.frame_size
        for index in range(self.frames):
            m = self.camera(index)
            frame = cv2.warpAffine(self.world, m, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            boxes = []
            for ident, thing in enumerate(self.moving):
                moved = thing.at(index)
                draw(frame, moved, self.shadow, m)
                boxes.append((moved.cls, moved.box(), True, ident))
            boxes += [(t.cls, t.box(), False, len(self.moving) + i) for i, t in enumerate(self.static)]
            visible = []
            for cls, (x1, y1, x2, y2), moving, ident in boxes:
                (a, b), (c, d) = np.array([[x1, y1], [x2, y2]]) @ m[:, :2].T + m[:, 2]
                if (box := _clip(cls, (a, b, c, d), fw, fh, moving, ident)) is not None:
                    visible.append(box)
            yield frame, visible


def write_flyover(
    video: str | Path,
    seed: int = 0,
    frames: int = 120,
    fps: float = 10.0,
    size=(640, 360),
    flyover: Flyover | None = None,
    show_progress: bool = False,
) -> Path:
    """The flyover as an mp4, and ``{video}.truth.jsonl`` beside it: per frame the ground-truth boxes
    (with each object's ``id``). ``flyover``: another than the default one of ``seed``, ``frames``, ``size``;
    ``show_progress``: how far along on standard error."""
    video = Path(video)
    video.parent.mkdir(parents=True, exist_ok=True)
    flyover = flyover or Flyover(seed, frame=size, frames=frames)
    size = flyover.frame_size
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    truth = video.with_name(video.name + ".truth.jsonl")
    with truth.open("w") as out:
        frames = progress(flyover, "synth flyover", "frame", total=flyover.frames) if show_progress else flyover
        for index, (frame, boxes) in enumerate(frames):
            writer.write(frame)
            record = {
                "frame": index,
                "width": size[0],
                "height": size[1],
                "boxes": [
                    {
                        "id": b.id,
                        "class_id": b.cls,
                        "class_name": CLASSES[b.cls],
                        "x1": round(b.x1, 2),
                        "y1": round(b.y1, 2),
                        "x2": round(b.x2, 2),
                        "y2": round(b.y2, 2),
                        "moving": b.moving,
                    }
                    for b in boxes
                ],
            }
            out.write(json.dumps(record) + "\n")
    writer.release()
    return video


# --- scoring detections against the ground truth -----------------------------------------------------
def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def score(detections: list[dict], truth: list[dict], threshold: float = 0.5) -> dict:
    """Precision and recall of detection lines (inference --json) against truth lines (the flyover's),
    on the frames that were processed: a detection is right when it has the class of a not yet matched
    ground-truth box with IoU >= ``threshold`` (greedy, most confident first)."""
    by_frame = {record["frame"]: record["boxes"] for record in truth}
    tp = fp = fn = moving_found = moving_all = 0
    for line in detections:
        wanted = [dict(b) for b in by_frame.get(line["frame"], [])]
        used = [False] * len(wanted)
        for det in sorted(line["detections"], key=lambda d: -d["confidence"]):
            box = (det["x1"], det["y1"], det["x2"], det["y2"])
            best, at = 0.0, -1
            for i, gt in enumerate(wanted):
                if not used[i] and gt["class_id"] == det["class_id"]:
                    overlap = iou(box, (gt["x1"], gt["y1"], gt["x2"], gt["y2"]))
                    if overlap > best:
                        best, at = overlap, i
            if best >= threshold:
                used[at] = True
                tp += 1
            else:
                fp += 1
        fn += used.count(False)
        moving_all += sum(1 for gt in wanted if gt.get("moving"))
        moving_found += sum(1 for gt, hit in zip(wanted, used, strict=True) if hit and gt.get("moving"))
    return {
        "precision": round(tp / (tp + fp), 3) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 3) if tp + fn else 0.0,
        "true_positives": tp,
        "false_positives": fp,
        "missed": fn,
        "moving_recall": round(moving_found / moving_all, 3) if moving_all else 0.0,
        "frames": len(detections),
    }
