"""The console's overview page over a large data root: time to first byte against listing the folders.

A data root with BENCH_CONSOLE_ANNOTATIONS (100,000) annotations in data/ (image + label; a tenth of
them also waiting in data-seed/, half augmented: originals, variants and completion markers in
data-processed/) and BENCH_CONSOLE_RUNS (50) archived training runs of 100 epochs each. The console
runs in uvicorn on loopback with an Admin session; no api and no metrics answer (their errors are
part of the page, as they would be).

- Baseline: ``os.scandir`` over the folders the overview counts (the images of data/, data-seed/,
  data_deleted/, data-processed/, the markers, data-rejected/, models/), in the same run.
- The overview's time to first byte once its counts are known (the steady state: a page refreshing
  every 10 s). Goal (issue 20): <= 2 x the baseline: the console counts incrementally and never
  walks every file on each request.
- The first request, which lists everything once (informational).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import Row

ANNOTATIONS = int(os.environ.get("BENCH_CONSOLE_ANNOTATIONS", "100000"))
RUNS = int(os.environ.get("BENCH_CONSOLE_RUNS", "50"))
SECRET = "bench-console-session-secret-0123456789"


def touch_all(folder: Path, names, suffix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        os.close(os.open(folder / f"{name}{suffix}", os.O_CREAT | os.O_WRONLY, 0o644))


def make_root(root: Path) -> list[Path]:
    names = [f"a{i:07d}" for i in range(ANNOTATIONS)]
    touch_all(root / "data" / "images", names, ".jpg")
    touch_all(root / "data" / "labels", names, ".txt")
    touch_all(root / "data-seed" / "images", names[: ANNOTATIONS // 10], ".jpg")
    half = names[: ANNOTATIONS // 2]
    touch_all(root / "data-processed" / "images", half, ".jpg")
    touch_all(root / "data-processed" / ".complete", half, ".json")
    touch_all(root / "data_deleted" / "images", names[:100], ".jpg")
    touch_all(root / "data-rejected", [f"1700000000-{i}-{i:012x}" for i in range(20)], ".bin")
    header = "epoch,train/box_loss,metrics/mAP50(B),metrics/mAP50-95(B)"
    for r in range(RUNS):
        run = root / "models" / f"run-{r:03d}"
        run.mkdir(parents=True)
        rows = [f"{e},{2 - e / 100},{e / 150},{e / 300}" for e in range(1, 101)]
        (run / "results.csv").write_text("\n".join([header, *rows]) + "\n")
        (run / "gate.json").write_text(json.dumps({"publish": r % 2 == 0, "reason": "bench", "split": "test"}))
    return [
        root / "data" / "images",
        root / "data-seed" / "images",
        root / "data_deleted" / "images",
        root / "data-processed" / "images",
        root / "data-processed" / ".complete",
        root / "data-rejected",
        root / "models",
    ]


def scandir_seconds(folders: list[Path]) -> float:
    started = time.perf_counter()
    for folder in folders:
        with os.scandir(folder) as entries:
            sum(1 for _ in entries)
    return time.perf_counter() - started


def serve(app) -> tuple[object, int]:
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, port


def first_byte(port: int, cookie: str) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    connection.request("GET", "/", headers={"Cookie": f"azaion_console={cookie}"})
    response = connection.getresponse()
    seconds = time.perf_counter() - started
    body = response.read()
    connection.close()
    assert response.status == 200 and b'id="data">' + str(ANNOTATIONS).encode() in body, response.status
    return seconds


def run() -> list[Row]:
    import jwt
    from console.app import create_app
    from console.settings import ConsoleOptions
    from pydantic import SecretStr

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        folders = make_root(root)
        print(f"data root: {ANNOTATIONS} annotations, {RUNS} runs in {time.perf_counter() - started:.1f} s")
        options = ConsoleOptions(
            api_url="http://127.0.0.1:9", metrics={}, session_secret=SecretStr(SECRET), timeout=1.0
        )
        server, port = serve(create_app(options, root))
        expires = datetime.now(UTC) + timedelta(hours=1)
        cookie = jwt.encode({"sub": "bench", "role": "Admin", "api": "-", "exp": expires}, SECRET, algorithm="HS256")
        try:
            cold = first_byte(port, cookie)
            warm, listing = [], []
            for _ in range(7):  # interleaved: both see the same machine
                listing.append(scandir_seconds(folders))
                warm.append(first_byte(port, cookie))
        finally:
            server.should_exit = True
    page, baseline = statistics.median(warm), statistics.median(listing)
    print(
        f"overview: first byte {page * 1000:.1f} ms (the first request {cold * 1000:.0f} ms); "
        f"scandir {baseline * 1000:.1f} ms"
    )
    return [
        Row(
            f"console overview, {ANNOTATIONS} annotations and {RUNS} runs: time to first byte vs os.scandir "
            "of the folders",
            "<= 2 x",
            f"{page / baseline:.2f} x ({page * 1000:.1f} ms vs {baseline * 1000:.1f} ms, medians of 7)",
            page / baseline <= 2,
        ),
        Row(
            "console overview, the first request (lists every folder once)",
            "(informational)",
            f"{cold / baseline:.2f} x ({cold * 1000:.0f} ms)",
            True,
        ),
    ]
