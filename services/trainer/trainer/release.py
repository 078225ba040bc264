"""Releases: publish exported models as one versioned release, signed into the fleet's TUF targets.

Publishing version N encrypts every artifact with the model key (secrecy), splits it, uploads the
big part to the CDN and the small part to the api under versioned names (``azaion.vN.onnx.big``,
``.small``), so nothing a device may be downloading is ever overwritten; then it writes the release
manifest as the target ``releases/N.json`` into new targets metadata signed with the publisher's key
(authenticity; :mod:`azaion_shared.tuf_repository`), which the api stores before signing a new
snapshot and timestamp. A channel (``stable``) is the target ``channels/stable.json``: promotion after
a passing gate, ``promote`` (with ``--fraction`` for a staged rollout) and ``rollback`` by hand write a
new pointer. ``prune`` drops all but the newest ``keep`` releases (never one a channel runs).

The publisher reads the present through the same TUF client the devices use. After the publisher key
was rotated (a new root names a new targets key), the stored targets were signed by the old key: the
publisher accepts them once more when a root it verified before vouched for them, and re-signs them
with the new key, so every release from before the rotation stays listed and can be rolled back to.
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
from azaion_shared.errors import ApiNotFoundError, SignatureError
from azaion_shared.releases import (
    Artifact,
    ChannelPointer,
    Release,
    document_bytes,
    now_iso,
    parse_pointer,
    parse_release,
    versioned_resource,
)
from azaion_shared.split import split_file
from azaion_shared.tuf_repository import channel_target, release_target
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


@dataclass
class Present:
    """The targets metadata as verified now: its entries (TUF TargetFile by path, hash and length) and a
    reader that fetches a document only when it is asked for, verified against its entry."""

    version: int
    entries: dict
    reader: object = None  # path -> bytes (verified), or None for an empty repository

    def versions(self) -> list[int]:
        return sorted(int(p.split("/")[1].split(".")[0]) for p in self.entries if p.startswith("releases/"))

    def read(self, path: str) -> bytes | None:
        return self.reader(path) if path in self.entries else None


class Publisher:
    def __init__(self, api: ApiClient, cdn: Storage, key: bytes, signing_key: Path, trust, channel: str = "stable"):
        self.api, self.cdn, self.key = api, cdn, key
        self.signing_key = signing_key  # the path: azaion_shared.tuf_repository.signer loads it
        self.trust = trust  # azaion_shared.tuf_client.TrustClient over this api
        self.channel = channel

    # --- the present -----------------------------------------------------------------------------
    def present(self) -> Present:
        """What the fleet's targets say now, verified (after a publisher-key rotation: see the module)."""
        if self.api.releases().targets_version is None:
            return Present(0, {})
        try:
            refreshed = self.trust.refresh()
        except SignatureError as exc:
            carried = self._carry_over(exc)
            if carried is None:
                raise
            return carried
        targets = self.trust.trusted_targets()
        return Present(targets.signed.version, dict(targets.signed.targets), refreshed.read)

    def _carry_over(self, why: SignatureError) -> Present | None:
        """The stored targets when an earlier verified root's publisher key signed them (a rotation)."""
        from azaion_shared.tuf_repository import ROOT, TARGETS, check_signed_by, load

        history = sorted(
            (self.trust.metadata_dir / "root_history").glob("*.root.json"), key=lambda p: int(p.name.split(".")[0])
        )
        snapshot_file = self.trust.metadata_dir / "snapshot.json"
        if not history or not snapshot_file.exists():
            return None
        snapshot = load(snapshot_file.read_bytes(), "snapshot")
        version = snapshot.signed.meta["targets.json"].version
        metadata_url, targets_url = self.api.tuf_urls()
        targets = load(b"".join(self.trust.fetcher.fetch(f"{metadata_url}{version}.targets.json")), TARGETS)
        for root_file in reversed(history[:-1]):
            try:
                check_signed_by(load(root_file.read_bytes(), ROOT), TARGETS, targets)
            except SignatureError:
                continue
            log.warning(
                "targets version %d is signed by the publisher key of root %s, not by the current root's (%s): "
                "re-signing its %d targets with this key",
                version,
                root_file.name,
                why,
                len(targets.signed.targets),
            )

            def read(path: str, entries=targets.signed.targets) -> bytes:
                folder, _, name = path.rpartition("/")
                info = entries[path]
                body = b"".join(self.trust.fetcher.fetch(f"{targets_url}{folder}/{info.hashes['sha256']}.{name}"))
                info.verify_length_and_hashes(body)
                return body

            return Present(version, dict(targets.signed.targets), read)
        return None

    def _store(self, present: Present, changes: dict[str, bytes | None]) -> int:
        """New targets metadata: the present's entries with ``changes`` (None removes a path), signed with the
        publisher's key and stored at the api with the new documents."""
        from azaion_shared import tuf_repository as tuf

        entries = dict(present.entries)
        for path, data in changes.items():
            if data is None:
                entries.pop(path, None)
            else:
                entries[path] = tuf.target_file(path, data)
        metadata = tuf.targets(present.version + 1, entries)
        metadata.sign(tuf.signer(self.signing_key))
        sent = {path: data for path, data in changes.items() if data is not None}  # the api has the rest
        return self.api.put_targets(metadata.to_dict(), sent)

    def resign(self) -> int:
        """The present targets again, signed with this publisher's key (after a key rotation, or to renew
        their expiry); returns the new targets version."""
        return self._store(self.present(), {})

    # --- publishing ----------------------------------------------------------------------------
    def next_version(self, present: Present | None = None) -> int:
        return max((present or self.present()).versions(), default=0) + 1

    def publish(self, run: str, metrics: dict[str, float], classes: dict, files: list[ArtifactFile]) -> Release:
        """Upload every artifact under the next version, then sign the manifest into the targets."""
        if not files:
            raise TrainerError("nothing to release: export a model first (`python -m trainer export`)")
        present = self.present()
        version = self.next_version(present)
        artifacts = tuple(self._upload(file, version) for file in files)
        release = Release(
            version=version,
            run=run,
            created=now_iso(),
            metrics={k: round(float(v), 5) for k, v in metrics.items() if v is not None},
            classes={str(k): str(v) for k, v in classes.items()},
            artifacts=artifacts,
        )
        self._store(present, {release_target(version): document_bytes(release.to_document())})
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
    def pointer(self, present: Present | None = None) -> ChannelPointer | None:
        """Where the channel points now (verified)."""
        data = (present or self.present()).read(channel_target(self.channel))
        return parse_pointer(data, self.channel) if data is not None else None

    def release(self, version: int, present: Present | None = None) -> Release:
        data = (present or self.present()).read(release_target(version))
        if data is None:
            raise ApiNotFoundError(f"there is no release {version} (`python -m trainer release list`)", 404)
        return parse_release(data, version)

    def promote(self, version: int, fraction: float = 1.0) -> ChannelPointer:
        """Point the channel at ``version``; below 1, ``fraction`` of the fleet takes it (staged rollout) while
        the rest stays on the release the channel ran."""
        if not 0.0 < fraction <= 1.0:
            raise TrainerError(f"--fraction {fraction}: a share of the fleet, above 0 and at most 1")
        present = self.present()
        if release_target(version) not in present.entries:
            raise ApiNotFoundError(f"there is no release {version} (`python -m trainer release list`)", 404)
        current = self.pointer(present)
        previous = None
        if fraction < 1.0 and current is not None:
            previous = current.previous if current.version == version else current.version
        pointer = ChannelPointer(self.channel, version, fraction if previous else 1.0, previous)
        self._store(present, {channel_target(self.channel): document_bytes(pointer.to_document())})
        log.info("channel %s -> release %d (%s)", self.channel, version, _share(pointer))
        return pointer

    def rollback(self, to: int | None = None) -> ChannelPointer:
        """Point the channel back at ``to``, by default the newest release older than the current one."""
        present = self.present()
        current = self.pointer(present)
        if current is None:
            raise TrainerError(f"channel {self.channel} points nowhere yet: nothing to roll back")
        if to is None:
            older = [v for v in present.versions() if v < current.version]
            if not older:
                raise TrainerError(f"channel {self.channel} runs release {current.version}; no older release is kept")
            to = older[-1]
        return self.promote(to)

    # --- housekeeping --------------------------------------------------------------------------
    def prune(self, keep: int) -> list[int]:
        """Delete all but the newest ``keep`` releases, and never one a channel runs."""
        present = self.present()
        versions = present.versions()
        current = self.pointer(present)
        kept = set(versions[-keep:] if keep > 0 else [])
        if current is not None:
            kept |= {current.version} | ({current.previous} if current.previous else set())
        dropped = [v for v in versions if v not in kept]
        if not dropped:
            return []
        releases = {v: self.release(v, present) for v in dropped}
        self._store(present, {release_target(v): None for v in dropped})
        for release in releases.values():  # unlisted first, then their parts go
            for artifact in release.artifacts:
                self.api.delete(small_name(artifact.resource))
                self.cdn.delete(big_name(artifact.resource))
        log.info("pruned releases %s (keeping %d)", dropped, keep)
        return dropped

    def table(self) -> list[dict]:
        """One row per listed release, for `python -m trainer release list`."""
        present = self.present()
        current = self.pointer(present)
        rows = []
        for version in present.versions():
            release = self.release(version, present)
            channel = ""
            if current and current.version == version:
                channel = f"{self.channel} ({_share(current)})"
            elif current and current.previous == version:
                channel = f"{self.channel} (the other {1 - current.fraction:.0%})"
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
                    "channel": channel,
                }
            )
        return rows


def _share(pointer: ChannelPointer) -> str:
    if pointer.previous is None or pointer.fraction >= 1.0:
        return "the whole fleet"
    return f"{pointer.fraction:.0%} of the fleet, the rest on release {pointer.previous}"
