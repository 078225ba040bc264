"""The inference pipeline on the flyover over and over, for a profiler to watch (bench/profiles/).

    py-spy record -o bench/profiles/inference-tracking.svg -- .venv/bin/python bench/profile_inference.py

The starter model (ONNX, batch 1, ``--imgsz``) and the 1280x720 flyover of bench_inference.py are
made once into ``--workdir`` and kept there, so that a profile shows the pipeline, not the export.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--passes", type=int, default=5, help="times the video is processed")
    parser.add_argument("--no-track", action="store_true", help="the pipeline without tracking")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "azaion-profile-inference")
    args = parser.parse_args()

    import bench_inference

    args.workdir.mkdir(parents=True, exist_ok=True)
    model = args.workdir / f"starter-{args.imgsz}.onnx"
    if not model.exists():
        bench_inference.export(args.workdir, args.imgsz)
    video = args.workdir / "flyover.mp4"
    if not video.exists():
        bench_inference.make_video(args.workdir)
    ours = bench_inference.Ours(model)
    for _ in range(args.passes):
        stats = ours.run(video, track=not args.no_track)
        print(f"{stats.fps:.1f} fps, tracking {stats.track_seconds:.2f} s, model {stats.model_seconds:.2f} s")


if __name__ == "__main__":
    main()
