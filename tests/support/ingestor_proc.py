"""Run the ingestor as a real process (so that it can be killed with SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml


class IngestorProcess:
    def __init__(self, root: Path, stream: str, log_path: Path, **options: str):
        self.root = root
        self.stream = stream
        self.log_path = log_path
        self.env = {
            **os.environ,
            "AZAION_ENV": "development",
            "AZAION_ROOT": str(root),
            "AZAION_RABBIT__STREAM": stream,
            "AZAION_INGESTOR__HEALTH_PORT": "0",
            "AZAION_INGESTOR__TASK_QUEUE": f"{stream}-tasks",  # removed with the stream (tests/conftest.py)
            "AZAION_INGESTOR__WATCHDOG_SECONDS": "5",
            "AZAION_INGESTOR__BACKOFF_INITIAL": "0.2",
            "AZAION_INGESTOR__BACKOFF_MAX": "2",
            "AZAION_INGESTOR__LAG_PROBE_SECONDS": "0",
            # An un-awaited coroutine becomes an error the log shows (tests look for "never awaited").
            "PYTHONWARNINGS": "error:coroutine:RuntimeWarning",
            **{f"AZAION_INGESTOR__{k.upper()}": v for k, v in options.items()},
        }
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> IngestorProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen([sys.executable, "-m", "ingestor", "run"], env=self.env, stdout=log, stderr=log)
        self.starts += 1
        return self

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()
        return self.proc.returncode if self.proc else 0

    def checkpoint(self) -> int | None:
        path = self.root / "offset.yaml"
        return yaml.safe_load(path.read_text())["offset"] if path.exists() else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
