"""``python -m inference``: detect objects on video with the published model."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from azaion_shared.cli import add_version, port, positive, run_main, service_settings
from azaion_shared.logs import setup_logging
from azaion_shared.model_formats import BACKEND_CHOICES

log = logging.getLogger("inference")

DESCRIPTION = """\
Runs the published detection model on a video, a camera, an RTSP stream or a folder of images.

The model: logs in to the api (AZAION_API_CLIENT__URL/EMAIL/PASSWORD), refreshes the fleet's signed
metadata (The Update Framework, from the root it trusts: AZAION_INFERENCE__TRUSTED_ROOT), and reads the
pointer of its channel (AZAION_INFERENCE__CHANNEL, stable) and the release it names as the signed
targets list them (expired, rolled-back or forged metadata is refused). The model's parts come from
the api (the small one, and a short-lived link for the big one: a device needs no CDN credentials),
are checked against the release's SHA-256s, cached encrypted, and decrypted in memory with
AZAION_MODEL_KEY (or AZAION_MODEL_KEY_FILE). This device gets a TensorRT engine for its GPU (built
here from the ONNX model when the release has none, and kept here), the RKNN model on a Rockchip
NPU, and the ONNX model on ONNX Runtime everywhere else. While it runs it polls the channel
(AZAION_INFERENCE__POLL_SECONDS) and swaps a new release in between two frames; it reports to the
api's device inventory (AZAION_INFERENCE__HEARTBEAT_SECONDS). Without the api it starts from the
cached release. `--model FILE` runs a local model file instead (encrypted or not), for development.

Aerial video: a large frame is cut into overlapping tiles at the model's input size (--tiles auto:
4K on a 1280 model, 1080p on a 640 one), batched through the model with the whole frame, and the
boxes are merged, so that objects 10-30 px wide stay visible. Every detection gets a track id
(ByteTrack), kept across skipped frames; the summary lists each track (first and last frame, class
by majority vote, path length), and --events FILE.jsonl writes what the tracks do (appeared, left,
crossed a line, entered or left a zone: AZAION_INFERENCE__LINES / __ZONES).

Outputs (at least one): --output annotated.mp4, --json detections.jsonl (one line per processed
frame, DESIGN.md, with the model_version that produced it and each detection's track_id), --show
(a window; needs an OpenCV build with GUI), --live PORT (MJPEG in a browser, for headless boxes).
A one-line JSON summary is printed at the end.

Configuration (environment): AZAION_INFERENCE__*, AZAION_API_CLIENT__*, AZAION_MODEL_KEY (.env.example).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inference", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_version(parser, "azaion-inference")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="detect objects on a source")
    run.add_argument("--source", required=True, help="video file, camera number, rtsp:// or http:// URL, image folder")
    run.add_argument("--model", type=Path, help="a local model file (.onnx/.engine/.rknn, encrypted or not)")
    run.add_argument("--backend", choices=BACKEND_CHOICES, help="default: auto")
    run.add_argument(
        "--every",
        type=positive,
        help="process every Nth frame of a video, 1 or more (default 4; every image of a folder)",
    )
    run.add_argument("--conf", type=float, help="confidence threshold, between 0 and 1 (default 0.25)")
    run.add_argument("--iou", type=float, help="NMS IoU threshold, above 0 and at most 1 (default 0.7)")
    run.add_argument(
        "--tiles", help="auto (default), off, or ROWSxCOLUMNS (e.g. 2x3): overlapping tiles for small objects"
    )
    run.add_argument("--tile-overlap", type=float, help="overlap of neighbouring tiles, a fraction (default 0.2)")
    run.add_argument(
        "--no-full-frame", action="store_true", help="with tiles, do not also run the whole frame (large objects)"
    )
    run.add_argument("--no-track", action="store_true", help="no tracking: no track ids, no track summary")
    run.add_argument("--max-frames", type=positive, help="stop after this many processed frames (1 or more)")
    run.add_argument("--loop", action="store_true", help="play a video file or image folder over and over")
    run.add_argument(
        "--realtime",
        action="store_true",
        help="play a video file at its own frame rate, as a camera would (default: as fast as the model goes)",
    )
    run.add_argument("--output", type=Path, help="write the annotated video here (.mp4)")
    run.add_argument("--json", type=Path, help="write detections here, one JSON line per processed frame")
    run.add_argument(
        "--events", type=Path, help="write track events here (appeared, left, crossed a line, entered a zone)"
    )
    run.add_argument("--show", action="store_true", help="show the annotated video in a window")
    run.add_argument("--live", type=port, metavar="PORT", help="serve the annotated video at http://HOST:PORT/")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_parser("device", help="what this device is, which model it wants, which backends can run")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_main("inference", lambda: _run(build_parser().parse_args(argv)))


def _run(args) -> int:
    from inference import edge
    from inference.settings import InferenceSettings, LocalInferenceSettings

    if args.command == "device":  # needs no settings: it only looks at this machine
        setup_logging("WARNING")
        print(json.dumps(edge.device_report(), indent=2))
        return 0
    # a local model file needs no api, so no api credentials either
    settings = service_settings(
        LocalInferenceSettings if args.model else InferenceSettings, root=None if args.model else "owns"
    )
    print(json.dumps(edge.run(settings, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
