"""On a machine with an NVIDIA GPU: the production training defaults on synthetic scenes (issue 18).

    python bench/gpu/train_check.py [--images 600] [--iterations 300] [--batch 11] [--imgsz 1280]

Needs torch with CUDA and ultralytics (bring its wheel along: no package index there); the
trainer's synthetic scene generator is imported from this checkout. Under 10 minutes on an H100.

1. generates --images synthetic aerial scenes at --imgsz (trainer.synth, seed 0);
2. trains yolo11m from its yaml with the production defaults (batch 11, 1280 px, AMP) until about
   --iterations iterations, and measures images/s from the second epoch on (the first warms up);
3. reports whether batch 11 fitted (peak GPU memory), and the time an epoch of 10,000 images takes
   at that rate;
4. kills a training run in a child process in the middle of an epoch (SIGKILL after a checkpoint),
   resumes it with ultralytics' resume from ``last.pt``, and reports whether it continued.

Prints one JSON object; paste it with the card's name into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "shared"), str(REPO / "services" / "trainer")]


def dataset(workdir: Path, images: int, imgsz: int) -> Path:
    import yaml

    from trainer import synth
    from trainer.classes import load_classes, padded_names

    data = workdir / "data"
    if not (data / "train").exists():
        synth.write_dataset(data / "train", images, 0, imgsz)
        synth.write_dataset(data / "val", max(20, images // 10), 1, imgsz)
    data_yaml = data / "data.yaml"
    names = padded_names(load_classes())
    data_yaml.write_text(
        yaml.safe_dump({"path": str(data), "train": "train/images", "val": "val/images", "names": names})
    )
    return data_yaml


def train(data_yaml: Path, project: Path, epochs: int, batch: int, imgsz: int, name: str):
    from ultralytics import YOLO

    return YOLO("yolo11m.yaml").train(
        data=str(data_yaml),
        epochs=epochs,
        batch=batch,
        imgsz=imgsz,
        amp=True,
        device=0,
        workers=8,
        project=str(project),
        name=name,
        exist_ok=True,
        plots=False,
        save_period=1,
        val=False,
    )  # the production defaults: yolo11m, batch 11, 1280 px, AMP, a checkpoint every epoch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--batch", type=int, default=11)
    parser.add_argument("--imgsz", type=int, default=1280)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/azaion-train-check"))
    parser.add_argument("--child", choices=["resume-victim"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "true")
    import torch

    data_yaml = dataset(args.workdir, args.images, args.imgsz)
    if args.child:  # the run that gets killed
        train(data_yaml, args.workdir, 3, args.batch, args.imgsz, "victim")
        return 0
    from ultralytics import YOLO

    per_epoch = -(-args.images // args.batch)
    epochs = max(2, -(-args.iterations // per_epoch))
    torch.cuda.reset_peak_memory_stats()
    ends: list[float] = []
    model = YOLO("yolo11m.yaml")
    model.add_callback("on_train_epoch_end", lambda trainer: ends.append(time.perf_counter()))
    model.train(
        data=str(data_yaml),
        epochs=epochs,
        batch=args.batch,
        imgsz=args.imgsz,
        amp=True,
        device=0,
        workers=8,
        project=str(args.workdir),
        name="speed",
        exist_ok=True,
        plots=False,
        val=False,
    )
    peak = torch.cuda.max_memory_allocated() / 2**30
    rate = (len(ends) - 1) * args.images / (ends[-1] - ends[0])  # from the second epoch on
    # a run killed in the middle of its second epoch, then resumed from last.pt
    victim = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            "resume-victim",
            "--images",
            str(args.images),
            "--batch",
            str(args.batch),
            "--imgsz",
            str(args.imgsz),
            "--workdir",
            str(args.workdir),
        ]
    )
    last = args.workdir / "victim" / "weights" / "last.pt"
    deadline = time.monotonic() + 600
    while not last.exists() and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(1)
    time.sleep(args.images / rate / 2)  # half an epoch later
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    resumed = YOLO(str(last)).train(resume=True)
    result = {
        "gpu": torch.cuda.get_device_name(0),
        "batch": args.batch,
        "imgsz": args.imgsz,
        "batch_fits": True,
        "peak_gpu_memory_gib": round(peak, 1),
        "images_per_second": round(rate, 1),
        "minutes_per_10000_image_epoch": round(10_000 / rate / 60, 1),
        "resumed_after_kill": resumed is not None,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
