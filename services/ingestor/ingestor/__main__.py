"""``python -m ingestor``: run the service, or publish messages to the stream."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from azaion_shared.cli import add_version, run_main, service_settings
from azaion_shared.errors import ConfigError
from azaion_shared.roles import Role

log = logging.getLogger("ingestor")

DESCRIPTION = """\
Applies the annotation stream (RabbitMQ Stream, msgpack wire format) to the data root:
Created/Edited write image + label (Validator/Admin -> data/, other roles -> data-seed/),
Validated moves data-seed/ -> data/, Deleted moves pairs to data_deleted/. Malformed messages go
to data-rejected/{epoch}-{offset}-{sha12}.bin + .reason.txt. The checkpoint is $AZAION_ROOT/offset.yaml; the
service resumes after it, reconnects by itself, and exits non-zero only on bad configuration.

Configuration (environment): AZAION_ROOT, AZAION_RABBIT__HOST, __STREAM_PORT, __PORT, __USER,
__PASSWORD, __VHOST, __STREAM, __FRAME_MAX, AZAION_INGESTOR__* (see .env.example).
Health and metrics: http://HOST:AZAION_INGESTOR__HEALTH_PORT/healthz and /metrics.
"""


def _name(value: str) -> str:
    """An argparse ``type`` for an annotation's name, checked by the stream's own rule."""
    from azaion_shared.messages import NAME_RE

    if not NAME_RE.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is no annotation name: letters, digits, '.', '_' and '-' (an image's file name without .jpg)"
        )
    return value


def _role(value: str) -> str:
    found = Role.lookup(value)
    if found is None:
        raise argparse.ArgumentTypeError(f"{value!r} is no role: one of {', '.join(r.value for r in Role)}")
    return found.value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingestor", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_version(parser, "azaion-ingestor")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="consume the stream (the default)")
    pub = sub.add_parser("publish", help="send Created/Edited/Validated/Deleted messages to the stream")
    kinds = pub.add_subparsers(dest="kind", required=True)
    for kind in ("created", "edited"):
        cmd = kinds.add_parser(kind, help=f"{kind.capitalize()}: one message per JPEG image (+ its YOLO label)")
        cmd.add_argument("images", nargs="+", type=Path, help="JPEG files, or folders of them")
        cmd.add_argument(
            "--role",
            type=_role,
            default=Role.OPERATOR.value,
            help=f"annotator role, one of {', '.join(r.value for r in Role)} (Validator/Admin write to data/; "
            f"default {Role.OPERATOR.value})",
        )
        cmd.add_argument(
            "--labels-dir",
            type=Path,
            help="folder of {name}.txt labels (default: beside the image "
            "or in a sibling labels/ folder; no label means no boxes)",
        )
    for kind in ("validated", "deleted"):
        cmd = kinds.add_parser(kind, help=f"{kind.capitalize()}: one bulk message naming annotations")
        cmd.add_argument("names", nargs="+", type=_name, help="annotation names (image file names without .jpg)")
    pub.add_argument("--stream", help="override AZAION_RABBIT__STREAM")
    return parser


def _images(paths: list[Path]) -> list[Path]:
    """The JPEGs named or in the folders named; a path that is neither, or a folder without one, is refused."""
    found = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.glob("*.jpg"))
            if not inside:
                raise ConfigError(f"{path}: a folder with no .jpg image in it")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"{path}: no such image or folder")
    return found


def publish_command(args, settings) -> int:
    from azaion_shared.messages import AnnotationStatus
    from ingestor.publish import annotation_from_files, bulk, publish_messages

    rabbit = settings.rabbit.model_copy(update={"stream": args.stream}) if args.stream else settings.rabbit
    if args.kind in ("created", "edited"):
        status = AnnotationStatus.CREATED if args.kind == "created" else AnnotationStatus.EDITED
        if args.labels_dir is not None and not args.labels_dir.is_dir():
            raise ConfigError(f"--labels-dir {args.labels_dir}: not a folder")
        images = _images(args.images)
        messages = [annotation_from_files(image, status, args.role, args.labels_dir) for image in images]
    else:
        status = AnnotationStatus.VALIDATED if args.kind == "validated" else AnnotationStatus.DELETED
        messages = [bulk(status, args.names)]
    sent = publish_messages(rabbit, messages)
    print(f"published {sent} {status.wire_name} message(s) to stream {rabbit.stream} at {rabbit.host}")
    return 0


async def run_service(settings) -> None:
    from azaion_shared.atomic import clean_temp_files
    from azaion_shared.health import Health, serve
    from azaion_shared.paths import DataRoot
    from ingestor.apply import Applier, ingestor_folders, xattrs_supported
    from ingestor.checkpoint import Checkpoint
    from ingestor.metrics import Metrics
    from ingestor.service import IngestorService
    from ingestor.tasks import AmqpTaskPublisher, NoTasks

    options = settings.ingestor
    root = DataRoot(settings.root).ensure()
    # Only the ingestor's own folders: data-processed/ belongs to the augmentor replicas.
    for folder, recursive in ((root.root, False), *((path, True) for path in ingestor_folders(root))):
        cleaned = clean_temp_files(folder, recursive, max_age=settings.temp_max_age)
        if cleaned.removed or cleaned.kept:
            log.info("%s: %s", folder, cleaned)
    if not xattrs_supported(root.data.images):
        log.warning(
            "the filesystem of %s does not keep user extended attributes: replays after a crash can no longer tell "
            "a newer version from an older one (see docs/guides/ingest.md); use ext4, xfs, btrfs or overlayfs",
            settings.root,
        )
    metrics, health = Metrics(), Health(stale_after=max(60.0, 3 * options.watchdog_seconds))
    server = (
        serve(options.health_port, metrics.registry, health, name="ingestor-health") if options.health_port else None
    )
    publisher = AmqpTaskPublisher(settings.rabbit, options.task_queue) if options.tasks else NoTasks()
    applier = Applier(root, options.min_box_size, options.image_check == "full", options.max_image_pixels)
    applier.clean_staging(settings.temp_max_age)
    service = IngestorService(
        settings.rabbit,
        options,
        applier,
        Checkpoint(root.offset_file, settings.rabbit.stream),
        publisher,
        metrics,
        health,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "ingestor starting: root %s, stream %s at %s:%d, checkpoint %s",
        settings.root,
        settings.rabbit.stream,
        settings.rabbit.host,
        settings.rabbit.stream_port,
        service.committed,
    )
    try:
        await service.run(stop)
    finally:
        if server is not None:
            server.shutdown()
    log.info("ingestor stopped at offset %s", service.committed)


def main(argv: list[str] | None = None) -> int:
    return run_main("ingestor", lambda: _run(build_parser().parse_args(argv)))


def _run(args) -> int:
    from ingestor.settings import IngestorSettings

    settings = service_settings(IngestorSettings, root=None if args.command == "publish" else "owns")
    if args.command == "publish":
        return publish_command(args, settings)
    asyncio.run(run_service(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
