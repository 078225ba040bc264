"""``python -m inference``: detect objects on video with the published model."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from azaion_shared.cli import run_main, service_settings
from azaion_shared.logs import setup_logging
from azaion_shared.model_formats import BACKEND_CHOICES

log = logging.getLogger("inference")

DESCRIPTION = """\
Runs the published detection model on a video, a camera, an RTSP stream or a folder of images.

The model: logs in to the api (AZAION_API_CLIENT__URL/EMAIL/PASSWORD), reads the signed pointer of
its channel (AZAION_INFERENCE__CHANNEL, stable) and the signed release it names, and checks both
against the publisher keys it trusts (AZAION_INFERENCE__TRUSTED_KEYS). The model's parts come from
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
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="detect objects on a source")
    run.add_argument("--source", required=True, help="video file, camera number, rtsp:// or http:// URL, image folder")
    run.add_argument("--model", type=Path, help="a local model file (.onnx/.engine/.rknn, encrypted or not)")
    run.add_argument("--backend", choices=BACKEND_CHOICES, help="default: auto")
    run.add_argument("--every", type=int, help="process every Nth frame, 1 or more (default 4)")
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
    run.add_argument("--max-frames", type=int, help="stop after this many processed frames")
    run.add_argument("--loop", action="store_true", help="play a video file or image folder over and over")
    run.add_argument("--output", type=Path, help="write the annotated video here (.mp4)")
    run.add_argument("--json", type=Path, help="write detections here, one JSON line per processed frame")
    run.add_argument(
        "--events", type=Path, help="write track events here (appeared, left, crossed a line, entered a zone)"
    )
    run.add_argument("--show", action="store_true", help="show the annotated video in a window")
    run.add_argument("--live", type=int, metavar="PORT", help="serve the annotated video at http://HOST:PORT/")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_parser("device", help="what this device is, which model it wants, which backends can run")
    return parser


#: command-line flags that override the AZAION_INFERENCE__* setting of the same name
FLAGS = ("backend", "every", "conf", "iou", "tiles", "tile_overlap")


def _options(settings, args):
    """The settings with the command line's overrides, checked by the same rules as the settings."""
    from pydantic import ValidationError

    from azaion_shared.errors import ConfigError

    options = settings.inference
    overrides = {flag: getattr(args, flag) for flag in FLAGS if getattr(args, flag) is not None}
    if args.no_full_frame:
        overrides["tile_full_frame"] = False
    if args.no_track:
        overrides["track"] = False
    try:
        options = type(options).model_validate(options.model_dump() | overrides)
    except ValidationError as exc:
        problems = [
            f"--{str(error['loc'][0]).replace('_', '-')} {overrides.get(error['loc'][0], '')}: {error['msg']}"
            for error in exc.errors()
        ]
        raise ConfigError("; ".join(problems)) from None
    if args.events and not options.track:
        raise ConfigError("--events needs tracking: leave out --no-track (or AZAION_INFERENCE__TRACK=false)")
    settings.inference = options
    return options


def _check_model_file(path: Path, backend: str) -> None:
    """Refuse a model file that cannot run, before anything is loaded."""
    from azaion_shared.errors import ConfigError
    from azaion_shared.model_formats import FORMATS, format_of

    if path.suffix.lower() in (".pt", ".pth"):
        raise ConfigError(
            f"{path} is a PyTorch checkpoint; the edge runs ONNX, TensorRT or RKNN: export it first "
            "(`python -m trainer export --run RUN`, or ultralytics' `yolo export model=FILE format=onnx`)"
        )
    suffixes = {f.suffix for f in FORMATS.values()}
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"{path}: not a model file this runs ({', '.join(sorted(suffixes))})")
    if not path.is_file():
        raise ConfigError(f"no such model file: {path}")
    fmt = format_of(path.name)
    if backend not in ("auto", fmt.backend):
        raise ConfigError(
            f"--backend {backend} cannot run {path.name} (a {fmt.name} model runs on {fmt.backend}); "
            f"use --backend auto, or give it a {backend} model"
        )


def _model_and_backend(settings, args, stack):
    """(model, backend, updater factory or None): a local --model file, else the channel's release."""
    from inference.acquire import load_file
    from inference.runtime import acquire_backend, open_backend, warmed_up

    options = settings.inference
    if args.model:
        # A plain model file needs no key and an encrypted one says so; a key that is set but
        # unreadable is an error, never silently ignored.
        key = settings.key() if settings.key_configured() else None
        model = load_file(args.model, key)
        return model, warmed_up(open_backend(model, options)), None
    from azaion_shared.errors import ApiError, AzaionError
    from inference.acquire import Acquirer
    from inference.device import detect
    from inference.fleet import Channel, Updater, start
    from inference.release_cache import ReleaseCache

    key, trusted = settings.key(), options.trusted()
    device = detect()
    log.info("device: %s", device.detail)
    cache = ReleaseCache(options.cache(Path(settings.root)))
    api = stack.enter_context(settings.api_client.client(progress=not args.no_progress))
    acquirer = Acquirer(options, key, api, cache)
    channel = Channel(api, trusted, options.channel, cache)
    begun = start(channel)
    (log.warning if begun.offline else log.info)(begun.note)
    release, refused = begun.release, {}
    try:
        model, backend = acquire_backend(acquirer, release, device, options)
    except AzaionError as exc:  # the channel's release does not run here: the one that last did, if any
        fallback = cache.running()
        if fallback is None or fallback == release.version or isinstance(exc, ApiError):
            raise
        log.error(
            "release %d refused (%s); starting with release %d, the last one this device ran",
            release.version,
            exc,
            fallback,
        )
        refused[release.version] = str(exc)
        release = channel.release(fallback)
        model, backend = acquire_backend(acquirer, release, device, options)
    cache.save_running(release.version)

    def updater(pipeline) -> Updater:
        prepare = lambda release: acquire_backend(acquirer, release, device, options)  # noqa: E731
        made = Updater(channel, prepare, pipeline, release.version, options, backend.name)
        made.refused.update(refused)
        return made

    return model, backend, updater


def _check_outputs(args) -> None:
    from inference.errors import OutputError
    from inference.sinks import OTHER_OUTPUTS

    if not (args.output or args.json or args.show or args.live is not None or args.events):
        raise OutputError(f"choose at least one output: --show, {OTHER_OUTPUTS}")


def _sinks(args, options, fps):
    from inference.sinks import JsonlSink, LiveSink, ShowSink, VideoSink

    sinks = []
    try:
        if args.show:
            sinks.append(ShowSink())
        if args.json:
            sinks.append(JsonlSink(args.json))
        if args.output:
            sinks.append(VideoSink(args.output, fps))
        if args.live is not None:
            sinks.append(LiveSink(options.live_host, args.live))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def run(settings, args) -> dict:
    from contextlib import ExitStack

    from tqdm import tqdm

    from inference.pipeline import Pipeline
    from inference.source import Source
    from inference.tracking import Tracking

    options = _options(settings, args)  # bad flags, outputs and model files are refused before anything loads
    _check_outputs(args)
    if args.model:
        _check_model_file(args.model, options.backend)
    with ExitStack() as stack:
        source = Source(args.source, options.every, args.max_frames, loop=args.loop)
        stack.callback(source.close)
        fps = source.fps / options.every
        tracking = None
        if options.track:
            tracking = Tracking(options, fps, _events(args, options, stack))
        model, backend, make_updater = _model_and_backend(settings, args, stack)
        pipeline = Pipeline(
            backend,
            [],
            options.conf,
            options.iou,
            options.max_det,
            options.queue_size,
            version=model.version,
            tiles=options.tiles,
            tile_overlap=options.tile_overlap,
            tile_full_frame=options.tile_full_frame,
            tile_merge=options.tile_merge,
            tracking=tracking,
        )
        stack.callback(pipeline.close)  # the backend running at the end (swapped-out ones close as they go)
        log.info(
            "model %s (%s, %s, release %s) on %s", model.name, model.format, model.origin, model.version, backend.name
        )
        del model  # the plaintext model lives on only inside the runtime
        pipeline.sinks = _sinks(args, options, fps)
        updater = make_updater(pipeline).start() if make_updater else None
        previous = {sig: signal.signal(sig, lambda *_: pipeline.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
        bar = tqdm(total=source.total, unit="frame", disable=args.no_progress, desc="inference", file=sys.stderr)
        try:
            stats = pipeline.run(source, progress=bar.update)
        finally:
            bar.close()
            if updater is not None:
                updater.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if tracking is not None:
                tracking.finish(pipeline.model.info)
            for sink in pipeline.sinks:
                sink.close()
        backend = pipeline.backend
        summary = {
            "backend": backend.name,
            "batch": backend.batch,
            "input": list(backend.input_size),
            "tiles": options.tiles,
        }
        if updater is not None:
            summary["swaps"] = updater.swaps
            summary["last_error"] = updater.last_error
        summary |= stats.as_dict()
        if tracking is not None:
            summary["tracks"] = tracking.summary(pipeline.model.info)
        return summary


def _events(args, options, stack):
    """The track events of --events (None without it)."""
    if not args.events:
        return None
    from inference.events import EventLog, Events

    log_file = EventLog(args.events)
    stack.callback(log_file.close)
    return Events(log_file, options.lines, options.zones)


def device_report() -> dict:
    from azaion_shared.model_formats import availability
    from inference.device import detect

    device = detect()
    return {
        "device": device.detail,
        "kind": device.kind,
        "format": device.format.name,
        "wants": device.wanted_resource(),
        "backends": {name: {"available": ok, "detail": why} for name, (ok, why) in availability().items()},
    }


def main(argv: list[str] | None = None) -> int:
    return run_main("inference", lambda: _run(build_parser().parse_args(argv)))


def _run(args) -> int:
    from inference.settings import InferenceSettings, LocalInferenceSettings

    if args.command == "device":  # needs no settings: it only looks at this machine
        setup_logging("WARNING")
        print(json.dumps(device_report(), indent=2))
        return 0
    # a local model file needs no api, so no api credentials either
    settings = service_settings(LocalInferenceSettings if args.model else InferenceSettings)
    print(json.dumps(run(settings, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
