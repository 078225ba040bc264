"""Copy the pictures the documentation shows from what `make demo` left behind, so that none is drawn by hand.

python scripts/docs_pictures.py [DEMO_ROOT]     (default .run/demo; `make docs-pictures` runs the demo first)

- docs/images/demo-frame.png        the frame of the demo's annotated flyover (edge/annotated.mp4) with the most
                                    tracked vehicles, 640 px wide
- docs/images/console-overview.png  the console's overview as the demo's Admin sees it
- docs/images/console-run.png       the demo run's training page
- docs/images/contact-sheet.jpg     one annotation and its seven augmented variants, 960 px wide
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "docs" / "images"
WIDTH = 640  # the README shows it at this size; the page weighs about 100 KB


def busiest_frame(detections: Path) -> int:
    """The index in the annotated video of the frame with the most tracked vehicles (ties: the first)."""
    records = [json.loads(line) for line in detections.read_text().splitlines() if line.strip()]
    vehicles = [
        sum(1 for d in r["detections"] if d.get("track_id") is not None and d["class_name"] != "building")
        for r in records
    ]
    return max(range(len(records)), key=lambda i: (vehicles[i], -i))  # the video holds processed frames only


def frame_of(video: Path, index: int) -> cv2.typing.MatLike:
    capture = cv2.VideoCapture(str(video))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok:
        raise SystemExit(f"docs_pictures: {video} has no frame {index}: run `make demo` first")
    return scaled(frame, WIDTH)


def scaled(image: cv2.typing.MatLike, width: int) -> cv2.typing.MatLike:
    height = round(image.shape[0] * width / image.shape[1])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def main() -> int:
    demo = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / ".run" / "demo"
    copies = {name: demo / name for name in ("console-overview.png", "console-run.png")}
    sheet = demo / "contact-sheet.png"
    needed = [demo / "edge" / "annotated.mp4", demo / "edge" / "detections.jsonl", sheet, *copies.values()]
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        print(f"docs_pictures: missing {', '.join(missing)}: run `make demo` first", file=sys.stderr)
        return 2
    IMAGES.mkdir(exist_ok=True)
    edge = demo / "edge"
    cv2.imwrite(
        str(IMAGES / "demo-frame.png"), frame_of(edge / "annotated.mp4", busiest_frame(edge / "detections.jsonl"))
    )
    cv2.imwrite(str(IMAGES / "contact-sheet.jpg"), scaled(cv2.imread(str(sheet)), 960), [cv2.IMWRITE_JPEG_QUALITY, 85])
    for name, source in copies.items():
        shutil.copyfile(source, IMAGES / name)
    written = ", ".join(["demo-frame.png", "contact-sheet.jpg", *copies])
    print(f"docs_pictures: wrote {written} into {IMAGES.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
