"""`make bench`: run every benchmark in bench/ and write bench/RESULTS.md.

Each ``bench/bench_*.py`` module has ``run() -> list[Row]``; it prints its own
figures as it goes, and the rows (goal, measured ratio, pass) land in one table.
Benchmarks are not tests: timings on shared machines are noisy.
Run one alone with ``python bench/run.py crypto`` (a substring of the module name).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import platform
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Row  # noqa: E402


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    wanted = argv[1:] or [""]
    modules = [p for p in sorted(HERE.glob("bench_*.py")) if any(w in p.stem for w in wanted)]
    rows: list[Row] = []
    failed = []
    for path in modules:
        print(f"\n### {path.stem}", flush=True)
        try:
            rows.extend(load(path).run())
        except Exception:
            traceback.print_exc()
            failed.append(path.stem)
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}.",
        "",
        "| benchmark | goal | measured | met |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r.name} | {r.goal} | {r.measured} | {'yes' if r.met else 'NO'} |" for r in rows]
    if failed:
        lines += ["", f"Failed to run: {', '.join(failed)} (see the console output)."]
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines[4:]))
    print(f"\nwrote {HERE / 'RESULTS.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
