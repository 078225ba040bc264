"""Frames from a video file, a camera, an RTSP/HTTP stream, or a folder of images.

Only every Nth frame is decoded: the frames between are ``grab()``-ed (demuxed, not converted).
``realtime`` plays a video file at its own frame rate, as a camera would deliver it (a recorded
flight shown live, or a device tried against one); no frame is dropped, so a slower model plays it slower.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inference.errors import SourceError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class Frame:
    index: int  # position in the source
    time_ms: float  # position in the video (files) or since the start (live sources)
    image: np.ndarray  # BGR
    path: str | None = None  # the image file, for a folder of images (said in each JSON line)


class Source:
    """Iterate :class:`Frame` s; ``total`` is the number of frames that will be processed, if known."""

    @property
    def stills(self) -> bool:
        """True for a folder of images or one image: every one of them counts (no frame to skip)."""
        return self._images is not None

    def __init__(
        self,
        spec: str,
        every: int = 1,
        max_frames: int | None = None,
        loop: bool = False,
        realtime: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.spec, self.every, self.max_frames, self.loop = spec, every, max_frames, loop
        self.realtime, self._clock, self._sleep = realtime, clock, sleep
        self.live = False
        self._images: list[Path] | None = None
        self._capture: cv2.VideoCapture | None = None
        path = Path(spec)
        if spec.isdigit():
            self._open_capture(int(spec))
            self.live = True
        elif "://" in spec:
            self._open_capture(spec)
            self.live = True
        elif path.is_dir():
            self._images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._images:
                raise SourceError(f"the folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        elif path.is_file():
            if path.suffix.lower() in IMAGE_SUFFIXES:
                self._images = [path]
            else:
                self._open_capture(str(path))
        else:
            raise SourceError(f"no such file, folder or camera: {spec!r} (a camera is a number, a stream a URL)")
        if loop and self.live:
            raise SourceError("--loop plays a video file or an image folder again and again; a live source has no end")
        if realtime and (self.live or self._images is not None):
            raise SourceError("--realtime plays a video file at its own frame rate; a camera or stream has one already")
        self.fps = self._fps()

    def _open_capture(self, target: int | str) -> None:
        capture = cv2.VideoCapture(target)
        if not capture.isOpened():
            raise SourceError(f"OpenCV cannot open {target!r} (unsupported codec, no such camera, or unreachable)")
        self._capture = capture

    def _fps(self) -> float:
        if self._capture is None:
            return 1.0
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        return fps if fps and 0 < fps < 1000 else 25.0

    @property
    def frame_count(self) -> int | None:
        if self._images is not None:
            return len(self._images)
        if self.live or self._capture is None:
            return None
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        return count if count > 0 else None

    @property
    def total(self) -> int | None:
        count = self.frame_count
        if count is None or self.loop:
            return self.max_frames
        processed = (count + self.every - 1) // self.every
        return min(processed, self.max_frames) if self.max_frames else processed

    def __iter__(self) -> Iterator[Frame]:
        started = self._clock()
        for emitted, frame in enumerate(self._passes(), start=1):
            if self.realtime:  # as a camera delivers it: frame N at N / fps, never early (late when slower)
                wait = started + frame.index / self.fps - self._clock()
                if wait > 0:
                    self._sleep(wait)
            yield frame
            if self.max_frames and emitted >= self.max_frames:
                return

    def _passes(self) -> Iterator[Frame]:
        """One pass over the source, or with ``loop`` one after another (frame numbers keep counting)."""
        start = 0
        while True:
            yield from self._images_iter(start) if self._images is not None else self._video_iter(start)
            if not self.loop:
                return
            if self._played == start:
                raise SourceError(f"{self.spec} gave no frame to loop over")
            start = self._played
            if self._capture is not None:  # rewind by opening it again: reliable with every container
                self._capture.release()
                self._open_capture(self.spec)

    def _images_iter(self, start: int = 0) -> Iterator[Frame]:
        self._played = start + len(self._images)
        for position, path in enumerate(self._images):
            index = start + position
            if index % self.every:
                continue
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise SourceError(f"{path} is not an image OpenCV can read")
            yield Frame(index, index * 1000.0, image, path.name)

    def _video_iter(self, start: int = 0) -> Iterator[Frame]:
        capture, started, index = self._capture, time.monotonic(), start
        self._played = start
        while True:
            if index % self.every:
                if not capture.grab():
                    return
            else:
                ok, image = capture.read()
                if not ok:
                    return
                when = (time.monotonic() - started) * 1000 if self.live else index * 1000.0 / self.fps
                yield Frame(index, when, image)
            index += 1
            self._played = index

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
