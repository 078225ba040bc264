"""``python -m trainer``: the training job, whole (``run``) or step by step."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from azaion_shared.cli import add_version, mp4_file, onnx_file, positive, run_main, service_settings
from azaion_shared.logs import setup_logging
from azaion_shared.model_formats import ONNX

DESCRIPTION = """\
The training job: dataset from data-processed/ -> YOLO training (resumable) -> archive in
models/{run}/ -> promotion gate -> ONNX export (models/azaion.onnx) -> a signed release: every artifact
encrypted (small part to the API, big part to the CDN, under versioned names), the manifest signed with
the publisher's Ed25519 key, and the `stable` channel moved to it. `run` does it all and continues an
interrupted run by itself. `release list|promote|rollback|prune` manages what the fleet runs.

Configuration (environment): AZAION_ROOT, AZAION_TRAINER__* (profile, epochs, batch, imgsz, weights,
device, overrides as JSON, signing_key, channel, promote, release_keep ...), AZAION_API_CLIENT__*,
AZAION_CDN__*, AZAION_MODEL_KEY(_FILE).
Any ultralytics train argument: --set name=value (repeatable), e.g. --set lr0=0.005 --set mosaic=0.

Export formats (`export --format`, and AZAION_TRAINER__EXPORT_FORMATS for `run`):
{table}
"""


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _run_name(text: str) -> str:
    """An argparse ``type`` for --run: a name that stays a folder of its own under models/ and datasets/
    (the annotation names' rule)."""
    from azaion_shared.messages import NAME_RE

    if not NAME_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is no run name: letters, digits, '.', '_' and '-' (20261206-demo)")
    return text


def _image_size(text: str) -> int:
    """An argparse ``type`` for a model's input size: the export table's rule (trainer.formats)."""
    from trainer.errors import ExportError
    from trainer.formats import check_imgsz

    size = positive(text)
    try:
        check_imgsz(size, "--imgsz")
    except ExportError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return size


def _setting(text: str) -> tuple[str, str]:
    """An argparse ``type`` for --set: ``name=value``, or argparse's one-line error."""
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE, an ultralytics train argument (lr0=0.005)")
    return name.strip(), value


def _convert_parser(sub) -> None:
    convert = sub.add_parser(
        "convert",
        help="turn a .pt (the starter model included) into an ONNX model that `inference run --model` runs; "
        "no api, no data root",
    )
    convert.add_argument("weights", type=Path, help="the ultralytics .pt file")
    convert.add_argument("--out", "--output", dest="out", type=onnx_file, required=True, help="the .onnx to write")
    convert.add_argument(
        "--imgsz", type=_image_size, default=640, help="input size in pixels, a multiple of 32 (default 640)"
    )
    convert.add_argument("--batch", type=positive, default=1, help="images per run (default 1)")


def _synth_parser(sub) -> None:
    synth = sub.add_parser("synth", help="synthetic aerial scenes (a dataset) or a flyover video, with labels")
    kinds = synth.add_subparsers(dest="kind", required=True)
    scenes = kinds.add_parser("dataset", help="N scenes as images/*.jpg + labels/*.txt (YOLO)")
    scenes.add_argument("--out", "--output", dest="out", type=Path, required=True, help="the folder to write")
    scenes.add_argument("--count", type=positive, default=100, help="how many scenes (default 100)")
    scenes.add_argument("--size", type=positive, default=320, help="square image side in pixels (default 320)")
    scenes.add_argument("--seed", type=int, default=0, help="the same seed draws the same scenes (default 0)")
    flyover = kinds.add_parser("flyover", help="a drone flyover video, ground truth in VIDEO.truth.jsonl")
    flyover.add_argument("--out", "--output", dest="out", type=mp4_file, required=True, help="the .mp4 to write")
    flyover.add_argument("--frames", type=positive, default=120, help="how many frames (default 120)")
    flyover.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10)")
    flyover.add_argument("--seed", type=int, default=0, help="the same seed films the same flight (default 0)")
    flyover.add_argument(
        "--4k", dest="uhd", action="store_true", help="3840x2160 with small objects (cars ~16 px): for --tiles"
    )


def build_parser() -> argparse.ArgumentParser:
    from trainer.formats import FORMATS, table

    parser = argparse.ArgumentParser(
        prog="python -m trainer",
        description=DESCRIPTION.replace("{table}", table()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_version(parser, "azaion-trainer")
    parser.add_argument("--tiny", action="store_true", help="the tiny profile: yolo11n, 96 px, 2 epochs (CPU)")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_run(cmd, required=False):
        what = "the run's name (required)" if required else "run name (default: a timestamp, or the interrupted run)"
        cmd.add_argument("--run", required=required, type=_run_name, help=what)
        cmd.add_argument(  # also after the subcommand: `trainer run --tiny` as well as `trainer --tiny run`
            "--tiny", action="store_true", default=argparse.SUPPRESS, help="the tiny profile (see above)"
        )
        return cmd

    run = with_run(sub.add_parser("run", help="the whole flow"))
    run.add_argument("--force", action="store_true", help="publish even if the gate says the model is worse")
    run.add_argument("--no-publish", action="store_true", help="stop after the export")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        type=_setting,
        metavar="ARG=VALUE",
        help="an ultralytics train argument (repeatable; default none)",
    )
    with_run(sub.add_parser("dataset", help="form datasets/{run}/ from data-processed/"), required=True)
    train = with_run(sub.add_parser("train", help="train on datasets/{run}/"), required=True)
    train.add_argument(
        "--set", action="append", default=[], type=_setting, metavar="ARG=VALUE", help="as for run (default none)"
    )
    with_run(sub.add_parser("resume", help="continue an interrupted run from its last good checkpoint"))
    gate = with_run(
        sub.add_parser("gate", help="compare the run with the current model; promote it if not worse"), required=True
    )
    gate.add_argument("--force", action="store_true")
    export = with_run(sub.add_parser("export", help="export models/azaion.pt (ONNX, TensorRT, RKNN)"), required=True)
    export.add_argument(
        "--format", choices=list(FORMATS), default=ONNX.name, help=f"what to export (default {ONNX.name})"
    )
    export.add_argument("--imgsz", type=int, help="image size (default: the profile's export size)")
    export.add_argument("--batch", type=int, help="batch (default: the format's)")
    export.add_argument("--precision", help="fp32, fp16 or int8, as the format allows (default: the format's)")
    export.add_argument("--target", help="rknn: the chip (default rk3588)")
    visualise = sub.add_parser("visualise", help="a PNG grid of images with their boxes (checking labels by eye)")
    visualise.add_argument(
        "folder", type=Path, help="data/, data-processed/, datasets/RUN/train ... (images/ + labels/)"
    )
    visualise.add_argument(
        "--out", "--output", dest="out", type=Path, default=Path("grid.png"), help="(default grid.png)"
    )
    visualise.add_argument(
        "--count", type=positive, default=16, help="images in the grid, spread evenly over the folder (default 16)"
    )
    visualise.add_argument("--columns", type=positive, default=4, help="images per row (default 4)")
    visualise.add_argument("--show", action="store_true", help="also open it in a window (OpenCV with GUI)")
    _synth_parser(sub)
    _convert_parser(sub)
    publish = with_run(sub.add_parser("publish", help="release the exported models as the next signed version"))
    publish.add_argument(
        "--format", action="append", choices=list(FORMATS), help="formats in the release (default: export_formats)"
    )
    publish.add_argument("--no-promote", action="store_true", help="do not move the channel to the new release")
    _release_parser(sub)
    return parser


def _release_parser(sub) -> None:
    """``python -m trainer release ...``: list, promote, rollout, rollback, prune, resign."""
    release = sub.add_parser("release", help="list releases, move the channel: promote, rollback; prune old ones")
    actions = release.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every stored release, and which one the channel runs")
    promote = actions.add_parser("promote", help="point the channel at a release (devices follow within a poll)")
    promote.add_argument("version", type=int)
    promote.add_argument(
        "--fraction",
        type=float,
        default=1.0,
        help="a staged rollout: this share of the fleet (0-1, by a stable hash of each device's name) takes the "
        "release, the rest stays on what the channel ran; promote again with a larger fraction to widen it "
        "(default 1: all of it)",
    )
    rollout = actions.add_parser(
        "rollout",
        help="a staged rollout: widen a release over shares of the fleet on a schedule, halting by itself when "
        "its canaries report it failing (exit 3)",
    )
    rollout.add_argument("version", type=int)
    rollout.add_argument(
        "--steps", default="0.1,0.5,1", help="growing shares of the fleet, the last 1 (default 0.1,0.5,1)"
    )
    rollout.add_argument("--every", type=float, default=3600.0, help="seconds between steps (default 3600)")
    rollout.add_argument(
        "--max-failing",
        type=float,
        default=0.25,
        help="halt when more than this share of the canaries refused the release (default 0.25)",
    )
    rollout.add_argument("--min-reports", type=int, default=1, help="canary reports needed to judge (default 1)")
    actions.add_parser(
        "resign",
        help="sign the present releases and channels again with AZAION_TRAINER__SIGNING_KEY (after a key rotation, "
        "or to renew their expiry)",
    )
    rollback = actions.add_parser("rollback", help="point the channel back at the release before the current one")
    rollback.add_argument("--to", type=int, help="this release instead of the previous one")
    prune = actions.add_parser("prune", help="delete all but the newest releases (never the channel's)")
    prune.add_argument("--keep", type=int, help="how many to keep (default AZAION_TRAINER__RELEASE_KEEP)")
    for action in actions.choices.values():
        action.add_argument("--channel", help="the channel (default AZAION_TRAINER__CHANNEL, stable)")


def main(argv: list[str] | None = None) -> int:
    return run_main("trainer", lambda: _run(build_parser().parse_args(argv)))


def _run(args) -> int:
    from trainer.pipeline import Pipeline
    from trainer.settings import TrainerSettings
    from trainer.training import offline

    offline()
    if args.command == "visualise":  # needs no settings: a folder in, a PNG out
        from trainer.classes import load_classes
        from trainer.visualise import render

        setup_logging("WARNING")
        out, drawn = render(args.folder, args.out, load_classes(), args.count, args.columns, show=args.show)
        print(f"{out}: {drawn} images of {args.folder} with their boxes")
        return 0
    if args.command == "convert":  # needs no settings either: a .pt in, an .onnx out
        from trainer.export import convert

        setup_logging("WARNING")
        out = convert(args.weights, args.out, args.imgsz, args.batch)
        print(f"{out}: ONNX, {args.imgsz} px, batch {args.batch}; run it with")
        print(f"  python -m inference run --model {out} --source VIDEO_OR_IMAGES --output annotated.mp4")
        return 0
    if args.command == "synth":  # needs no settings either
        from trainer import synth

        if args.kind == "dataset":
            folder = synth.write_dataset(args.out, args.count, args.seed, args.size, show_progress=True)
            print(f"{folder}: {args.count} scenes, synthetic (drawn, not photographed), with YOLO labels")
        else:
            flyover = synth.Flyover.aerial_4k(args.seed, args.frames) if args.uhd else None
            video = synth.write_flyover(args.out, args.seed, args.frames, args.fps, flyover=flyover, show_progress=True)
            print(f"{video}: {args.frames} frames of a synthetic flyover; ground truth in {video.name}.truth.jsonl")
        return 0
    # Only publishing talks to the api and the CDN and encrypts: the other steps need none of their secrets.
    publishes = args.command in ("publish", "release") or (args.command == "run" and not args.no_publish)
    local = () if publishes else ("api_client", "cdn", "model_key")
    settings = service_settings(TrainerSettings, root="uses", unused=local)
    if args.tiny:
        settings.trainer.profile = "tiny"
    pipeline = Pipeline(settings)
    extra = {k: _value(v) for k, v in getattr(args, "set", [])}
    if args.command == "run":
        report = pipeline.run(args.run, args.force, not args.no_publish, extra)
        print(json.dumps(report.__dict__, indent=2, default=str))
        return 0 if report.gate.get("publish") else 3
    if args.command == "dataset":
        pipeline.form_dataset(args.run)
    elif args.command == "train":
        pipeline.train(args.run, extra)
    elif args.command == "resume":
        print(f"run {pipeline.resume(args.run)} trained and archived")
    elif args.command == "gate":
        decision = pipeline.gate(args.run, args.force)
        print(decision.reason)
        return 0 if decision.publish else 3
    elif args.command == "export":
        exported = pipeline.export(args.run, args.format, args.imgsz, args.batch, args.precision, args.target)
        print(json.dumps({"path": str(exported.path)} | exported.meta, indent=2, default=str))
    elif args.command == "publish":
        release, pointer, pruned = pipeline.publish(args.run, args.format, False if args.no_promote else None)
        print(f"release {release.version}: " + ", ".join(a.resource for a in release.artifacts))
        if pointer:
            print(f"channel {pointer.channel} -> release {pointer.version}")
        if pruned:
            print(f"pruned releases {', '.join(map(str, pruned))}")
    elif args.command == "release":
        return _release(pipeline, settings, args)
    return 0


def _release(pipeline, settings, args) -> int:
    from trainer.errors import TrainerError

    if args.channel:
        settings.trainer.channel = args.channel
    with settings.api_client.client() as api:
        publisher = pipeline.publisher(api)
        if args.action == "list":
            rows = publisher.table()
            if not rows:
                print("no releases yet: `python -m trainer run` publishes one when its model passes the gate")
            for row in rows:
                mark = f"  <- {row['channel']}" if row["channel"] else ""
                print(
                    f"{row['version']:>4}  run {row['run']}  {row['created']}  mAP50-95 {row['map50_95']}  "
                    f"mAP50 {row['map50']}  {' '.join(row['formats'])}{mark}"
                )
            return 0
        if args.action == "prune":
            dropped = publisher.prune(settings.trainer.release_keep if args.keep is None else args.keep)
            print(f"pruned releases {', '.join(map(str, dropped))}" if dropped else "nothing to prune")
            return 0
        if args.action == "rollout":
            from trainer.rollout import roll_out

            try:
                steps = [float(x) for x in args.steps.split(",")]
            except ValueError:
                raise TrainerError(f"--steps {args.steps!r}: comma-separated shares, e.g. 0.1,0.5,1") from None
            outcome = roll_out(publisher, args.version, steps, args.every, args.max_failing, args.min_reports)
            for step in outcome.steps:
                print(step)
            return 0 if outcome.completed else 3
        if args.action == "resign":
            print(f"targets version {publisher.resign()} signed with {settings.trainer.signing_key}")
            return 0
        if args.action == "promote":
            pointer = publisher.promote(args.version, args.fraction)
        else:
            pointer = publisher.rollback(args.to)
        share = (
            f"{pointer.fraction:.0%} of the fleet, the rest stays on release {pointer.previous}"
            if pointer.previous
            else "the whole fleet"
        )
        print(f"channel {pointer.channel} -> release {pointer.version} ({share})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
