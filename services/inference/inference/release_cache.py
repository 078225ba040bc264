"""The device's encrypted cache of releases: what lets it start offline, for days.

Layout under the cache folder (0700; nothing in it is plaintext)::

    tuf/metadata/, tuf/targets/     the fleet's TUF metadata and targets (pointers, manifests) as verified
                                    last (azaion_shared.tuf_client), tuf/confirmed.json: when confirmed fresh
    running.json                    the release this device last ran (its fallback when a new one fails)
    releases/{version}/{resource}.small|.big   the encrypted parts, as published
    engines/{onnx sha16}-trt{version}-cc{cc}.engine   engines built here, encrypted with the model key

Everything read back from here is verified again (signatures, sizes, SHA-256) before it is used: the
cache is a convenience, never a source of trust.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from azaion_shared.atomic import atomic_write_bytes, private_folder


class ReleaseCache:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _dir(self, *parts: str) -> Path:
        path = private_folder(self.folder, enforce=True)
        for part in parts:
            path = private_folder(path / part)
        return path

    # --- the release last run ----------------------------------------------------------------------
    def save_running(self, version: int) -> None:
        record = {"version": version, "since": time.time()}
        atomic_write_bytes(self._dir() / "running.json", json.dumps(record).encode(), mode=0o600)

    def running(self) -> int | None:
        try:
            return int(json.loads((self.folder / "running.json").read_text())["version"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # --- releases ---------------------------------------------------------------------------------
    def release_dir(self, version: int) -> Path:
        return self._dir("releases", str(version))

    def versions(self) -> list[int]:
        folder = self.folder / "releases"
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []

    def drop(self, version: int) -> None:
        shutil.rmtree(self.folder / "releases" / str(version), ignore_errors=True)

    def keep_only(self, versions: set[int]) -> None:
        """Drop cached releases other than ``versions`` (the running one and the one before it)."""
        for version in self.versions():
            if version not in versions:
                shutil.rmtree(self.folder / "releases" / str(version), ignore_errors=True)

    # --- engines built here ----------------------------------------------------------------------
    def engine_path(self, onnx_sha256: str, tensorrt_version: str, compute_capability: str) -> Path:
        safe = re.sub(r"[^0-9A-Za-z.]", "_", tensorrt_version)
        return self._dir("engines") / f"{onnx_sha256[:16]}-trt{safe}-cc{compute_capability}.engine"
