"""A training server with an older NVIDIA driver builds the trainer image with another CUDA build of
torch: TORCH_INDEX_URL reaches pip when the trainer's wheelhouse is made (scripts/wheelhouse.sh), and
only then. pip itself is replaced by a recorder, and the script runs from a copy in the test's folder
(it writes wheelhouse/ beside itself): what is checked is what the script asks of pip."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INDEX = "https://download.pytorch.org/whl/cu126"


def asked_of_pip(tmp_path: Path, service: str, index: str | None) -> list[str]:
    scripts = tmp_path / "scripts"
    if not scripts.exists():
        scripts.mkdir()
        for name in ("wheelhouse.sh", "aarch64.sh"):
            shutil.copy2(REPO / "scripts" / name, scripts / name)
    record = tmp_path / f"pip-{service}.args"
    fake = tmp_path / "pip"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "TORCH_INDEX_URL"} | {"PIP": str(fake)}
    if index:
        env["TORCH_INDEX_URL"] = index
    done = subprocess.run([str(scripts / "wheelhouse.sh"), service], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return record.read_text().splitlines()


def test_the_trainer_wheelhouse_takes_torch_from_the_index_named(tmp_path):
    args = asked_of_pip(tmp_path, "trainer", INDEX)
    assert args[0] == "wheel"
    assert args[args.index("--extra-index-url") + 1] == INDEX
    assert args[args.index("-c") + 1] == "constraints.txt"  # the same pinned versions, from another build
    assert "--extra-index-url" not in asked_of_pip(tmp_path, "trainer", None)
    assert "--extra-index-url" not in asked_of_pip(tmp_path, "api", INDEX)  # only the trainer has torch
