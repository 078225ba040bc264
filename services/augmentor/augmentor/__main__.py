"""``python -m augmentor``: run a replica, process images locally, or draw a contact sheet."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from azaion_shared.cli import add_version, run_main, service_settings

log = logging.getLogger("augmentor")

DESCRIPTION = """\
Turns each annotation in data/ into the original + 7 augmented variants in data-processed/
({name}.jpg, {name}+1.jpg ... {name}+7.jpg, labels alike, boxes transformed and corrected), with
a completion marker in data-processed/.complete/. Work comes from the durable RabbitMQ queue the
ingestor feeds (AZAION_AUGMENTOR__TASK_QUEUE); run any number of replicas on the same data root.
Every AZAION_AUGMENTOR__RECONCILE_MINUTES (and at start) data/ is rescanned, so images copied in by
hand or tasks lost for any reason still get processed, and outputs of deleted images are removed.

Configuration (environment): AZAION_ROOT, AZAION_RABBIT__*, AZAION_AUGMENTOR__* (see .env.example).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m augmentor", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_version(parser, "azaion-augmentor")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="consume tasks and reconcile (the default)")
    process = sub.add_parser("process", help="process names (or everything that needs it) here, without the broker")
    process.add_argument("names", nargs="*", help="annotation names; none means every image that needs work")
    sheet = sub.add_parser("contact-sheet", help="a PNG of one image and its 7 variants with boxes drawn")
    sheet.add_argument("image", type=Path)
    sheet.add_argument("--label", type=Path, help="YOLO label (default: labels/{stem}.txt beside images/, or .txt)")
    sheet.add_argument(
        "--out",
        "--output",
        dest="out",
        type=Path,
        default=Path("contact-sheet.png"),
        help="(default contact-sheet.png)",
    )
    return parser


def _label_for(image: Path) -> Path | None:
    for candidate in (image.parent.parent / "labels" / f"{image.stem}.txt", image.with_suffix(".txt")):
        if candidate.exists():
            return candidate
    return None


async def run_replica(settings) -> None:
    from augmentor.metrics import Metrics
    from augmentor.service import AugmentorService
    from azaion_shared.health import Health, serve
    from azaion_shared.paths import DataRoot

    options = settings.augmentor
    root = DataRoot(settings.root).ensure()
    metrics, health = Metrics(), Health(stale_after=120)
    server = (
        serve(options.health_port, metrics.registry, health, name="augmentor-health") if options.health_port else None
    )
    service = AugmentorService(settings.rabbit, options, root, metrics, health, temp_max_age=settings.temp_max_age)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.run(stop)
    finally:
        if server is not None:
            server.shutdown()


def process_locally(settings, names: list[str]) -> int:
    from augmentor.processor import Processor
    from azaion_shared.atomic import clean_temp_files
    from azaion_shared.paths import DataRoot
    from azaion_shared.progress import progress

    root = DataRoot(settings.root).ensure()
    log.info("data-processed/: %s", clean_temp_files(root.processed.path, max_age=settings.temp_max_age))
    processor = Processor(root, settings.augmentor).ensure()
    unknown = [n for n in names if not root.data.image(n).exists() and not root.processed.image(n).exists()]
    if unknown:
        from azaion_shared.errors import ConfigError

        raise ConfigError(
            f"no annotation {', '.join(map(repr, unknown[:5]))} in {root.data.images} (nor outputs of it to remove): "
            "a name is an image's file name without .jpg"
        )
    names = names or [n for n in root.data.names() if processor.needs_work(n)]
    counts: dict[str, int] = {}
    for name in progress(names, "augment", "image"):
        result = processor.process(name)
        counts[result.status] = counts.get(result.status, 0) + 1
    print("augmentor: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing to do"))
    return 1 if counts.get("failed") else 0


def main(argv: list[str] | None = None) -> int:
    return run_main("augmentor", lambda: _run(build_parser().parse_args(argv)))


def _run(args) -> int:
    from augmentor.settings import AugmentorSettings

    roots = {"process": "uses", "contact-sheet": None}  # a contact sheet is made from an image file
    settings = service_settings(AugmentorSettings, root=roots.get(args.command, "owns"))
    if args.command == "contact-sheet":
        from augmentor.contact_sheet import contact_sheet

        out = contact_sheet(args.image, args.label or _label_for(args.image), settings.augmentor, args.out)
        print(f"wrote {out}")
        return 0
    if args.command == "process":
        return process_locally(settings, args.names)
    asyncio.run(run_replica(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
