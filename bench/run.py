"""`make bench`: run every benchmark in bench/ and write bench/RESULTS.md.

Each ``bench/bench_*.py`` module has ``run() -> list[Row]``; it prints its own
figures as it goes, and the rows (goal, measured ratio, pass) land in one table,
each with the bench it came from and the time it was measured.
Benchmarks are not tests: timings on shared machines are noisy.
Run one alone with ``python bench/run.py crypto`` (a substring of the module name):
its rows replace that bench's rows; the other benches' rows and the notes below the
table stay as they were, with their own dates.
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


HEADER = ["| bench | benchmark | goal | measured | met | measured on |", "|---|---|---|---|---|---|"]
#: the part of RESULTS.md the documentation site's Benchmarks page includes (pymdownx.snippets' sections)
MARKS = ("<!-- --8<-- [start:table] -->", "<!-- --8<-- [end:table] -->")


def read_results(path: Path) -> tuple[list[str], list[str]]:
    """(the table's rows, the notes after the table) of an existing RESULTS.md."""
    if not path.exists():
        return [], []
    lines = path.read_text().splitlines()
    rows = [line for line in lines if line.startswith("| ") and line not in HEADER[:1]]
    end = max((i for i, line in enumerate(lines) if line.startswith("|")), default=len(lines) - 1)
    notes = [line for line in lines[end + 1 :] if not line.startswith("Failed to run:") and line not in MARKS]
    return rows, notes


def main(argv: list[str]) -> int:
    wanted = argv[1:] or [""]
    modules = [p for p in sorted(HERE.glob("bench_*.py")) if any(w in p.stem for w in wanted)]
    now = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    fresh: dict[str, list[str]] = {}
    failed = []
    for path in modules:
        print(f"\n### {path.stem}", flush=True)
        name = path.stem.removeprefix("bench_")
        try:
            rows: list[Row] = load(path).run()
        except Exception:
            traceback.print_exc()
            failed.append(path.stem)
            continue
        fresh[name] = [
            f"| {name} | {r.name} | {r.goal} | {r.measured} | {'yes' if r.met else 'NO'} | {now} |" for r in rows
        ]
    kept, notes = read_results(HERE / "RESULTS.md")
    table = [row for row in kept if row.split(" | ")[0].removeprefix("| ") not in fresh]
    for rows in fresh.values():
        table += rows
    table.sort(key=lambda row: row.split(" | ")[0])  # by bench; a bench's rows keep their order
    lines = [
        "# Benchmark results",
        "",
        MARKS[0],
        f"Last written on {now} by `python bench/run.py {' '.join(argv[1:])}`".rstrip() + f"; machine: {machine()}.",
        "Each row says when it was measured; the notes below say what the figures mean.",
        "",
        *HEADER,
        *table,
    ]
    if failed:
        lines += ["", f"Failed to run: {', '.join(failed)} (see the console output)."]
    lines.append(MARKS[1])
    (HERE / "RESULTS.md").write_text("\n".join(lines + notes) + "\n")
    print("\n" + "\n".join(HEADER + [row for name in fresh for row in fresh[name]]))
    print(f"\nwrote {HERE / 'RESULTS.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
