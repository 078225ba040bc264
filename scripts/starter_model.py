"""Train the starter model: yolo11n on synthetic aerial scenes (trainer.synth), on the CPU.

    .venv/bin/python scripts/starter_model.py [--train 500] [--epochs 20] [--out models/starter]

Generates a training, a validation and a held-out test set of synthetic scenes (different seeds),
trains yolo11n from its yaml (no download) at 320 px with the project's 80-name head, evaluates on
the test set, and writes ``{out}/yolo11n-synth.pt`` (optimizer stripped) with ``{out}/CARD.md``: how
it was made, the command, its metrics and classes. `make demo` fine-tunes from these weights instead
of training from scratch. Deterministic from --seed (up to torch's CPU kernels).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=500, help="training scenes")
    parser.add_argument("--val", type=int, default=100, help="validation scenes")
    parser.add_argument("--test", type=int, default=150, help="held-out test scenes")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.002, help="AdamW's initial learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=REPO / ".run" / "starter")
    parser.add_argument("--out", type=Path, default=REPO / "models" / "starter")
    args = parser.parse_args(argv)
    args.workdir, args.out = args.workdir.resolve(), args.out.resolve()  # ultralytics puts relative ones under runs/
    os.environ.setdefault("YOLO_OFFLINE", "true")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    import yaml
    from ultralytics import YOLO

    from trainer import synth
    from trainer.classes import load_classes, padded_names

    started = time.time()
    data = args.workdir / "dataset"
    shutil.rmtree(data, ignore_errors=True)
    for split, count, seed in (
        ("train", args.train, args.seed * 3 + 1),
        ("val", args.val, args.seed * 3 + 2),
        ("test", args.test, args.seed * 3 + 3),
    ):
        synth.write_dataset(data / split, count, seed, args.imgsz)
    names = padded_names(load_classes())
    data_yaml = data / "data.yaml"
    data_yaml.write_text(
        yaml.safe_dump(
            {"path": str(data), "train": "train/images", "val": "val/images", "test": "test/images", "names": names}
        )
    )
    print(f"generated {args.train}/{args.val}/{args.test} scenes in {time.time() - started:.0f} s", flush=True)
    model = YOLO("yolo11n.yaml")
    # optimizer "auto" would pick AdamW at lr 0.002 * 5 / (4 + classes): 0.00012 for the 80-name head,
    # ten times slower to learn from scratch than the 5 classes drawn need; say the rate instead
    model.train(
        optimizer="AdamW",
        lr0=args.lr,
        data=str(data_yaml),
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        device="cpu",
        workers=2,
        seed=args.seed,
        project=str(args.workdir),
        name="train",
        exist_ok=True,
        plots=False,
        verbose=False,
    )
    best = args.workdir / "train" / "weights" / "best.pt"
    metrics = YOLO(str(best)).val(
        data=str(data_yaml), split="test", imgsz=args.imgsz, batch=args.batch, device="cpu", plots=False, verbose=False
    )
    per_class = {
        names[int(c)]: round(float(m), 3)
        for c, m in zip(metrics.box.ap_class_index, metrics.box.maps[metrics.box.ap_class_index], strict=True)
    }
    result = {
        "map50": round(float(metrics.box.map50), 3),
        "map50_95": round(float(metrics.box.map), 3),
        "map50_95_per_class": per_class,
        "minutes": round((time.time() - started) / 60, 1) if started else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / "yolo11n-synth.pt"
    shutil.copyfile(best, weights)
    command = "python scripts/starter_model.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (args.out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "CARD.md").write_text(card(args, result, command, synth.CLASSES, weights))
    print(json.dumps(result, indent=2))
    return 0


def card(args, result: dict, command: str, classes: dict, weights: Path) -> str:
    import torch
    import ultralytics

    size = weights.stat().st_size / 1e6
    return f"""# Starter model: yolo11n on synthetic aerial scenes

**What it is.** A yolo11n detector ({size:.1f} MB) trained from scratch on **synthetic** top-down
scenes drawn by `trainer.synth` (procedural ground: field, asphalt, sand, snow, with roads; cars,
trucks, armoured vehicles, buildings and people seen from above at random rotation, scale, colour
and shadow). It has never seen a photograph: it is the starting point that lets `make demo` end
with a model that visibly detects, and that fine-tuning on real annotations starts from. It is not
a model for real imagery.

**How it was made.** `{command.strip()}` on {platform.node()} ({os.cpu_count()} CPU cores, no GPU),
ultralytics {ultralytics.__version__}, torch {torch.__version__}: {args.train} training, {args.val}
validation and {args.test} held-out test scenes of {args.imgsz} px (seeds {args.seed * 3 + 1},
{args.seed * 3 + 2}, {args.seed * 3 + 3}), {args.epochs} epochs, batch {args.batch}, AdamW at lr {args.lr}, ultralytics'
default augmentation; {result["minutes"]} minutes in all. The head has the project's 80 outputs
(`trainer/classes.yaml`, unused ids padded), so it fine-tunes on the production data.yaml as is.

**Metrics** on the held-out synthetic test set: mAP50 **{result["map50"]}**, mAP50-95
{result["map50_95"]}; mAP50-95 per class: {", ".join(f"{k} {v}" for k, v in result["map50_95_per_class"].items())}.

**Classes drawn**: {", ".join(f"{k} {v}" for k, v in classes.items())}.
"""


if __name__ == "__main__":
    sys.exit(main())
