"""Run augmentor replicas as real processes, and seed a data root with images."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from azaion_shared.labels import Box, format_labels
from azaion_shared.paths import DataRoot


def seed_images(root: DataRoot, count: int, size=(64, 48), prefix="img") -> list[str]:
    root.data.ensure()
    rng = np.random.default_rng(count)
    names = []
    for i in range(count):
        name = f"{prefix}-{i:04d}"
        image = cv2.GaussianBlur(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), (5, 5), 0)
        cv2.imwrite(str(root.data.image(name)), image)
        root.data.label(name).write_text(format_labels([Box(i % 10, 0.5, 0.5, 0.25, 0.25)]))
        names.append(name)
    return names


class AugmentorProcess:
    def __init__(self, root: Path, queue: str, log_path: Path, **options: str):
        self.log_path = log_path
        self.env = {
            **os.environ,
            "AZAION_ENV": "development",
            "AZAION_ROOT": str(root),
            "AZAION_LOG_JSON": "true",
            "AZAION_AUGMENTOR__TASK_QUEUE": queue,
            "AZAION_AUGMENTOR__HEALTH_PORT": "0",
            "AZAION_AUGMENTOR__RECONCILE_MINUTES": "0",
            # An un-awaited coroutine becomes an error the log shows (tests look for "never awaited").
            "PYTHONWARNINGS": "error:coroutine:RuntimeWarning",
            **{f"AZAION_AUGMENTOR__{k.upper()}": v for k, v in options.items()},
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> AugmentorProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "augmentor", "run"], env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        return self

    def kill9(self) -> None:
        """SIGKILL the replica and its worker processes (the whole process group)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()
        return self.proc.returncode if self.proc else None

    def processed_names(self) -> list[str]:
        names = []
        if self.log_path.exists():
            for line in self.log_path.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("message", "").startswith("processed ") and "image" in entry:
                    names.append(entry["image"])
        return names
