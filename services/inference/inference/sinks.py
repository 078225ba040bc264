"""Where the results go: a JSONL file, an annotated video, a window, a live view in a browser."""

from __future__ import annotations

import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

from azaion_shared.drawing import gui_available
from azaion_shared.model_info import ModelInfo
from inference.errors import OutputError
from inference.postprocess import Detections
from inference.source import Frame

log = logging.getLogger(__name__)

OTHER_OUTPUTS = "--output FILE.mp4 (annotated video), --json FILE.jsonl (detections) or --live PORT (a browser view)"


@dataclass(frozen=True)
class Running:
    """The model that produced a frame: its metadata, and the release version (None: a local file)."""

    info: ModelInfo
    version: int | None = None


class Sink(ABC):
    needs_drawing = False

    @abstractmethod
    def write(self, frame: Frame, detections: Detections, drawn: np.ndarray | None, model: Running) -> None:
        """Take one processed frame (``drawn`` is the annotated image when ``needs_drawing``)."""

    @abstractmethod
    def close(self) -> None:
        """Finish the output (flush, finalise the file)."""


def detections_record(frame: Frame, detections: Detections, model: Running) -> dict:
    """One line of ``--json`` (DESIGN.md, "Detections output"; ``model_version``: the release that ran)."""
    height, width = frame.image.shape[:2]
    info = model.info
    record = {
        "frame": frame.index,
        "model_version": model.version,
        "time_ms": round(frame.time_ms, 3),
        "width": width,
        "height": height,
        "detections": [
            {
                "class_id": int(c),
                "class_name": info.name(int(c)),
                "confidence": round(float(s), 5),
                "x1": round(float(b[0]), 2),
                "y1": round(float(b[1]), 2),
                "x2": round(float(b[2]), 2),
                "y2": round(float(b[3]), 2),
                "track_id": detections.track_id(i),
            }
            for i, (b, s, c) in enumerate(zip(detections.boxes, detections.scores, detections.classes, strict=True))
        ],
    }
    if frame.path is not None:  # a folder of images: which file this line is about
        record["source"] = frame.path
    return record


class JsonLines:
    """A JSON-lines file of ``what``, each record flushed as it is written (a reader may follow the file)."""

    def __init__(self, path: Path, what: str, separators: tuple[str, str] | None = None):
        self.path, self._separators = path, separators
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {what} to {path}: {exc}") from exc

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record, separators=self._separators) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class JsonlSink(Sink):
    """One JSON object per processed frame (``--json``)."""

    def __init__(self, path: Path):
        self.path = path
        self._lines = JsonLines(path, "detections", separators=(",", ":"))

    def write(self, frame: Frame, detections: Detections, drawn: np.ndarray | None, model: Running) -> None:
        self._lines.write(detections_record(frame, detections, model))

    def close(self) -> None:
        self._lines.close()


class VideoSink(Sink):
    """An annotated mp4 (``mp4v``), written to a hidden file and renamed when finished."""

    needs_drawing = True

    def __init__(self, path: Path, fps: float):
        self.path, self.fps = path, fps
        self._tmp = path.with_name(f".{path.name}.part{path.suffix}")
        self._writer: cv2.VideoWriter | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write the video to {path}: {exc}") from exc
        self.frames = 0

    def write(self, frame: Frame, detections: Detections, drawn: np.ndarray | None, model: Running) -> None:
        image = drawn if drawn is not None else frame.image
        if self._writer is None:
            height, width = image.shape[:2]
            self._size = (width, height)
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, self._size)
            if not self._writer.isOpened():
                raise OutputError(f"OpenCV cannot write an mp4 to {self.path} (no mp4v encoder in this build?)")
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size)
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        os.replace(self._tmp, self.path)
        log.info("wrote %s (%d frames at %.1f fps)", self.path, self.frames, self.fps)


class ShowSink(Sink):
    """An OpenCV window; q or Esc stops."""

    needs_drawing = True
    WINDOW = "azaion inference"

    def __init__(self):
        if not gui_available():
            raise OutputError(
                f"this OpenCV build has no GUI support (headless), so --show cannot open a window; use {OTHER_OUTPUTS}"
            )
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise OutputError(f"--show needs a display (DISPLAY is not set); use {OTHER_OUTPUTS}")
        self.stopped = False

    def write(self, frame: Frame, detections: Detections, drawn: np.ndarray | None, model: Running) -> None:
        cv2.imshow(self.WINDOW, drawn if drawn is not None else frame.image)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.stopped = True

    def close(self) -> None:
        cv2.destroyAllWindows()


class LiveSink(Sink):
    """The annotated frames as MJPEG over HTTP: open ``http://HOST:PORT/`` in a browser.

    Frames are JPEG-encoded only while somebody watches, and a slow viewer skips frames instead of
    slowing the pipeline down.
    """

    needs_drawing = True

    def __init__(self, host: str, port: int, quality: int = 80):
        self.quality = quality
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._closed = False
        self.viewers = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):  # quiet: one line per request is too much
                log.debug("live view: " + fmt, *args)

            def do_GET(self):
                if self.path in ("/", "/index.html"):
                    body = (
                        b"<html><head><title>azaion</title></head><body style='margin:0;background:#111'>"
                        b"<img src='/stream.mjpg' style='max-width:100%;max-height:100vh'></body></html>"
                    )
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path == "/healthz":  # the container healthcheck
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                elif self.path == "/stream.mjpg":
                    self.send_response(200)
                    self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                    self.send_header("Cache-Control", "no-cache")
                    self.end_headers()
                    sink.stream_to(self.wfile)
                else:
                    self.send_error(404)

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise OutputError(f"cannot serve the live view on {host}:{port}: {exc}") from exc
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="live-view", daemon=True)
        self._thread.start()
        log.info("live view on http://%s:%d/", host, self.port)

    def stream_to(self, out) -> None:
        with self._cond:
            self.viewers += 1
        seen = -1
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda last=seen: self._closed or self._seq != last, timeout=5)
                    if self._closed:
                        return
                    if self._seq == seen or self._jpeg is None:
                        continue
                    jpeg, seen = self._jpeg, self._seq
                out.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg))
                out.write(jpeg + b"\r\n")
                out.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        finally:
            with self._cond:
                self.viewers -= 1

    def write(self, frame: Frame, detections: Detections, drawn: np.ndarray | None, model: Running) -> None:
        if not self.viewers:
            return
        ok, jpeg = cv2.imencode(
            ".jpg", drawn if drawn is not None else frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.quality]
        )
        if ok:
            with self._cond:
                self._jpeg, self._seq = jpeg.tobytes(), self._seq + 1
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()
