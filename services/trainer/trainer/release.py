"""Releases: publish exported models as one signed, versioned release and move channels.

Publishing version N encrypts every artifact with the model key (secrecy), splits it, uploads the
big part to the CDN and the small part to the api under versioned names (``azaion.vN.onnx.big``,
``.small``), so nothing a device may be downloading is ever overwritten; then it signs the manifest
with the publisher's Ed25519 key (authenticity) and stores it at the api. A channel (``stable``)
moves by a new signed pointer with a higher sequence: promotion after a passing gate, ``promote``
and ``rollback`` by hand. ``prune`` drops all but the newest ``keep`` releases (never one a channel
points at). See azaion_shared.releases for the documents and README "Releases" for the commands.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from azaion_shared.api_client import ApiClient
from azaion_shared.cdn import Storage, sha256_file
from azaion_shared.crypto import encrypt_file
from azaion_shared.distribution import big_name, small_name
from azaion_shared.errors import ApiNotFoundError
from azaion_shared.releases import (
    Artifact,
    ChannelPointer,
    Release,
    now_iso,
    sign_pointer,
    sign_release,
    verify_pointer,
    verify_release,
    versioned_resource,
)
from azaion_shared.split import split_file
from trainer.errors import TrainerError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArtifactFile:
    """An exported model and what its export said of it (the JSON beside it)."""

    path: Path
    meta: dict

    @classmethod
    def beside(cls, path: Path) -> ArtifactFile:
        sidecar = path.with_name(path.name + ".json")
        return cls(path, json.loads(sidecar.read_text()) if sidecar.exists() else {})

    @property
    def resource(self) -> str:
        return str(self.meta.get("resource") or self.path.name)

    @property
    def format(self) -> str:
        from azaion_shared.model_formats import format_of

        return str(self.meta.get("format") or format_of(self.path.name).name)


class Publisher:
    def __init__(self, api: ApiClient, cdn: Storage, key: bytes, signing_key, channel: str = "stable"):
        self.api, self.cdn, self.key = api, cdn, key
        self.signing_key = signing_key
        self.trusted = [signing_key.public_key()]
        self.channel = channel

    # --- publishing ----------------------------------------------------------------------------
    def next_version(self) -> int:
        return max(self.api.release_versions(), default=0) + 1

    def publish(self, run: str, metrics: dict[str, float], classes: dict, files: list[ArtifactFile]) -> Release:
        """Upload every artifact under the next version, then store the signed manifest."""
        if not files:
            raise TrainerError("nothing to release: export a model first (`python -m trainer export`)")
        version = self.next_version()
        artifacts = tuple(self._upload(file, version) for file in files)
        release = Release(
            version=version,
            run=run,
            created=now_iso(),
            metrics={k: round(float(v), 5) for k, v in metrics.items() if v is not None},
            classes={str(k): str(v) for k, v in classes.items()},
            artifacts=artifacts,
        )
        self.api.put_release(version, sign_release(release, self.signing_key))
        log.info("release %d of run %s: %s", version, run, ", ".join(a.resource for a in artifacts))
        return release

    def _upload(self, file: ArtifactFile, version: int) -> Artifact:
        resource = versioned_resource(file.resource, version)
        with tempfile.TemporaryDirectory(prefix="azaion-release-") as tmp:
            encrypted, small, big = Path(tmp, "enc"), Path(tmp, "small"), Path(tmp, "big")
            encrypt_file(file.path, encrypted, self.key)
            small_size, big_size = split_file(encrypted, small, big)
            big_sha = self.cdn.upload(big_name(resource), big)  # the big part first: see distribution.py
            self.api.upload(small_name(resource), small)
            small_sha = hashlib.sha256(small.read_bytes()).hexdigest()
        imgsz = file.meta.get("imgsz")
        return Artifact(
            resource=resource,
            format=file.format,
            imgsz=(int(imgsz), int(imgsz)) if isinstance(imgsz, int) else tuple(imgsz) if imgsz else None,
            batch=file.meta.get("batch"),
            precision=file.meta.get("precision"),
            plaintext_sha256=sha256_file(file.path),
            plaintext_size=file.path.stat().st_size,
            small_sha256=small_sha,
            small_size=small_size,
            big_sha256=big_sha,
            big_size=big_size,
            compute_capability=file.meta.get("compute_capability"),
        )

    # --- channels ------------------------------------------------------------------------------
    def pointer(self) -> ChannelPointer | None:
        """Where the channel points now (verified: a pointer this key did not sign is an error)."""
        try:
            envelope, _etag = self.api.get_channel(self.channel)
        except ApiNotFoundError:
            return None
        return verify_pointer(envelope, self.trusted, self.channel)

    def release(self, version: int) -> Release:
        try:
            return verify_release(self.api.get_release(version), self.trusted, version)
        except ApiNotFoundError as exc:
            raise ApiNotFoundError(f"there is no release {version} (`python -m trainer release list`)", 404) from exc

    def promote(self, version: int) -> ChannelPointer:
        """Point the channel at ``version`` with the next sequence."""
        self.release(version)  # it exists and this publisher signed it
        current = self.pointer()
        pointer = ChannelPointer(self.channel, (current.sequence if current else 0) + 1, version)
        self.api.put_channel(self.channel, sign_pointer(pointer, self.signing_key))
        log.info("channel %s -> release %d (sequence %d)", self.channel, version, pointer.sequence)
        return pointer

    def rollback(self, to: int | None = None) -> ChannelPointer:
        """Point the channel back at ``to``, by default the newest release older than the current one."""
        current = self.pointer()
        if current is None:
            raise TrainerError(f"channel {self.channel} points nowhere yet: nothing to roll back")
        if to is None:
            older = [v for v in self.api.release_versions() if v < current.version]
            if not older:
                raise TrainerError(f"channel {self.channel} runs release {current.version}; no older release is kept")
            to = older[-1]
        return self.promote(to)

    # --- housekeeping --------------------------------------------------------------------------
    def prune(self, keep: int) -> list[int]:
        """Delete all but the newest ``keep`` releases, and never the one the channel points at."""
        versions = self.api.release_versions()
        current = self.pointer()
        kept = set(versions[-keep:] if keep > 0 else []) | ({current.version} if current else set())
        dropped = []
        for version in versions:
            if version in kept:
                continue
            release = self.release(version)
            self.api.delete_release(version)
            for artifact in release.artifacts:
                self.cdn.delete(big_name(artifact.resource))
            dropped.append(version)
        if dropped:
            log.info("pruned releases %s (keeping %d)", dropped, keep)
        return dropped

    def table(self) -> list[dict]:
        """One row per stored release, for `python -m trainer release list`."""
        current = self.pointer()
        rows = []
        for version in self.api.release_versions():
            release = self.release(version)
            rows.append(
                {
                    "version": version,
                    "run": release.run,
                    "created": release.created,
                    "map50_95": release.metrics.get("map50_95"),
                    "map50": release.metrics.get("map50"),
                    "formats": [
                        a.format + (f"/cc{a.compute_capability}" if a.compute_capability else "")
                        for a in release.artifacts
                    ],
                    "channel": self.channel if current and current.version == version else "",
                }
            )
        return rows
