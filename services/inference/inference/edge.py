"""The edge, started: the source, the model on its backend, the pipeline, its outputs and the fleet's
updater, run until the source ends or the user stops it (``python -m inference run``). The command line
is parsed in ``__main__``; which release and backend to start with is decided in ``inference.runtime``."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from azaion_shared.model_formats import AUTO

log = logging.getLogger("inference")


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
    if backend not in (AUTO, fmt.backend):
        raise ConfigError(
            f"--backend {backend} cannot run {path.name} (a {fmt.name} model runs on {fmt.backend}); "
            f"use --backend auto, or give it a {backend} model"
        )


def _model_and_backend(settings, args, stack):
    """(model, backend, updater factory or None): a local --model file, else the channel's release."""
    from inference.runtime import open_backend, warmed_up
    from inference.store import load_file

    options = settings.inference
    if args.model:
        # A plain model file needs no key and an encrypted one says so; a key that is set but
        # unreadable is an error, never silently ignored.
        key = settings.key() if settings.key_configured() else None
        model = load_file(args.model, key)
        return model, warmed_up(open_backend(model, options)), None
    from inference import fleet_helper
    from inference.device import detect
    from inference.fleet import Channel, Updater, start
    from inference.release_cache import ReleaseCache
    from inference.runtime import acquire_backend, first_backend
    from inference.store import ReleaseStore

    device = detect()
    log.info("device: %s", device.detail)
    cache = ReleaseCache(options.cache(Path(settings.root)))
    api = stack.enter_context(settings.api_client.client(progress=not args.no_progress))
    store = ReleaseStore(settings.key(), api, cache)
    channel = Channel(options.trust_client(api, cache.folder), options.channel, options.name(), cache, api)
    started = start(channel)
    begun = first_backend(store, channel, started, device, options)

    def updater(pipeline) -> Updater:
        following, fetching = channel, store
        if fleet_helper.AVAILABLE:  # polls, downloads and decryption in a process of their own
            recipe = fleet_helper.Recipe(
                settings.api_client,
                api.token,
                settings.key(),
                cache.folder,
                options,
                settings.log_level,
                settings.log_json,
            )
            helper, following, fetching = fleet_helper.follow(recipe, channel, store)
            stack.callback(helper.close)
        prepare = lambda release: acquire_backend(fetching, release, device, options)  # noqa: E731
        made = Updater(following, prepare, pipeline, begun.release.version, options, begun.backend.name)
        made.refused.update(begun.refused)
        made.channel_error = started.error
        return made

    return begun.model, begun.backend, updater


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

    every_given = args.every is not None or "every" in settings.inference.model_fields_set  # flag or variable
    options = _options(settings, args)  # bad flags, outputs and model files are refused before anything loads
    _check_outputs(args)
    if args.model:
        _check_model_file(args.model, options.backend)
    with ExitStack() as stack:
        source = Source(args.source, options.every, args.max_frames, loop=args.loop, realtime=args.realtime)
        stack.callback(source.close)
        if source.stills and not every_given:
            source.every = options.every = 1  # images: each one counts (--every skips frames of a video)
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
    """The track events of --events, and the counts of the lines and zones drawn on the annotated
    video (None without either)."""
    if not args.events and not (options.lines or options.zones):
        return None
    from inference.events import EventLog, Events

    log_file = None
    if args.events:
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
