"""The ingestor over a stream of 100 KB annotations, for a profiler to watch (bench/profiles/).

    py-spy record -o bench/profiles/ingestor.svg -- .venv/bin/python bench/profile_ingestor.py

Publishes ``--count`` Created messages (Validator role: each also publishes an augment task) to a new
stream on the broker `make broker` starts, then runs the ingestor with its defaults over them into a
temporary data root, as bench_ingestor.py does; the stream is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000, help="messages (100 KB images)")
    parser.add_argument("--no-tasks", action="store_true", help="without the augment task queue")
    args = parser.parse_args()

    import bench_ingestor

    from azaion_shared.messages import Annotation
    from ingestor.publish import producer, publish_messages

    settings = bench_ingestor.rabbit(f"profile-ingestor-{uuid.uuid4().hex[:8]}")
    image = bench_ingestor.jpeg_of_about(100 * 1024)
    publish_messages(
        settings,
        [Annotation(name=f"img-{i:06d}", image=image, detections=(), role="Validator") for i in range(args.count)],
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        rate = asyncio.run(
            bench_ingestor.ingestor_run(settings, Path(tmp), args.count - 1, "header", not args.no_tasks)
        )
    print(f"{rate:.0f} msg/s ({time.perf_counter() - started:.1f} s)")

    async def cleanup():
        async with producer(settings) as prod:
            await prod.delete_stream(settings.stream, missing_ok=True)

    asyncio.run(cleanup())


if __name__ == "__main__":
    main()
