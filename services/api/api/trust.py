"""The fleet's TUF repository as the api keeps it (``{root}/api/tuf``), and the online roles it signs.

The api stores and serves the metadata; it cannot forge a release. The offline root names the keys:
the trainer's publisher key signs *targets* (which release manifests and channel pointers exist, with
their hashes), and this api's online key signs *snapshot* and *timestamp*, which expire after
``AZAION_API__TUF_EXPIRY_HOURS`` and are re-signed before half of that has passed (by a background
thread, and whenever a device asks for ``timestamp.json``). A device that sees an expired timestamp
knows the api stopped vouching for the present: a freeze.

What the api checks before it stores anything: a new root is the next version and signed by a
threshold of the old root's keys and of its own; new targets metadata is signed by the targets role,
newer than the stored one, and every target it lists is a name of ours whose bytes are here or sent
along, hash and length checked; a release manifest names only artifacts that fit the resource naming
rule. Files are written under their version or hash and never replaced (consistent snapshots).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from api.errors import ConflictError, ResourceError
from azaion_shared.atomic import atomic_write_bytes, private_folder
from azaion_shared.tuf_repository import (
    METADATA_FILE_RE,
    ROOT,
    SNAPSHOT,
    TARGET_RE,
    TARGETS,
    TIMESTAMP,
    check_root,
    check_signed_by,
    load,
    to_bytes,
    utcnow,
)

log = logging.getLogger(__name__)
ONLINE_KEY_NAME = "online"


def _newest(folder: Path, role: str) -> tuple[int, Path] | None:
    found = [(int(p.name.split(".")[0]), p) for p in folder.glob(f"*.{role}.json") if p.name.split(".")[0].isdigit()]
    return max(found) if found else None


def target_file_name(path: str, sha256: str) -> str:
    """Where a target is stored and served: ``releases/{sha256}.7.json`` (TUF consistent snapshots)."""
    folder, _, name = path.rpartition("/")
    return f"{folder}/{sha256}.{name}"


class TrustStore:
    def __init__(self, folder: str | Path, online_key: Path, expiry_hours: float):
        self.folder = Path(folder)
        self.metadata = self.folder / "metadata"
        self.targets = self.folder / "targets"
        self.online_key = online_key
        self.expiry_hours = expiry_hours
        self._lock = threading.Lock()

    # --- the online key ------------------------------------------------------------------------
    def ensure_online_key(self) -> Path:
        """The api's online key pair (made once); returns its public key file, for the root ceremony."""
        from azaion_shared.signing import generate

        public = self.online_key.with_suffix(".pub")
        if not self.online_key.exists():
            private_folder(self.online_key.parent)
            generate(self.online_key.parent, self.online_key.stem)
        return public

    def _signer(self):
        from azaion_shared.tuf_repository import signer

        return signer(self.online_key)

    # --- reading ---------------------------------------------------------------------------------
    def root(self):
        newest = _newest(self.metadata, ROOT)
        return load(newest[1].read_bytes(), ROOT) if newest else None

    def current_targets(self):
        newest = _newest(self.metadata, TARGETS)
        return load(newest[1].read_bytes(), TARGETS) if newest else None

    def metadata_file(self, name: str) -> bytes | None:
        """A metadata file by the name a TUF client asks for (``3.root.json``, ``timestamp.json`` ...)."""
        if not METADATA_FILE_RE.fullmatch(name):
            return None
        if name == "timestamp.json":
            self.resign_if_due()
        path = self.metadata / name
        return path.read_bytes() if path.is_file() else None

    def target(self, stored_name: str) -> bytes | None:
        """A target file by its stored (hash-prefixed) name."""
        folder, _, name = stored_name.rpartition("/")
        if folder not in ("releases", "channels") or "/" in name or name.startswith("."):
            return None
        path = self.targets / folder / name
        return path.read_bytes() if path.is_file() else None

    def listed(self) -> dict[str, bytes]:
        """Every current target's bytes by path (for the api's own views: the console, the rollout check)."""
        current = self.current_targets()
        out = {}
        for path, info in current.signed.targets.items() if current else []:
            data = self.target(target_file_name(path, info.hashes["sha256"]))
            if data is not None:
                out[path] = data
        return out

    def status(self) -> list[str]:
        lines = []
        root, targets = self.root(), self.current_targets()
        if root is None:
            return ["no root installed: `python -m api trust root root.json`"]
        lines.append(f"root version {root.signed.version}, expires {root.signed.expires}")
        lines.append(
            f"targets version {targets.signed.version}, {len(targets.signed.targets)} targets, expires "
            f"{targets.signed.expires}"
            if targets
            else "no targets yet: the trainer publishes the first release"
        )
        stamp = self.metadata / "timestamp.json"
        if stamp.exists():
            timestamp = load(stamp.read_bytes(), TIMESTAMP)
            lines.append(f"timestamp version {timestamp.signed.version}, expires {timestamp.signed.expires}")
        return lines

    # --- writing ---------------------------------------------------------------------------------
    def install_root(self, data: bytes) -> str:
        """Store a new root (the first, or the next one, signed as TUF requires); re-sign the online roles."""
        new = load(data, ROOT)
        with self._lock:
            summary = check_root(new, self.root())
            private_folder(self.metadata)
            atomic_write_bytes(self.metadata / f"{new.signed.version}.root.json", to_bytes(new))
            if self.current_targets() is not None:
                self._sign_online()
        return summary

    def put_targets(self, data: bytes, files: dict[str, bytes]) -> int:
        """Store new targets metadata and the target files sent with it; re-sign the online roles."""
        new = load(data, TARGETS)  # SignatureError: not targets metadata (the route answers 400)
        with self._lock:
            root = self.root()
            if root is None:
                raise ConflictError("no root is installed: `python -m api trust root root.json` on the api server")
            check_signed_by(root, TARGETS, new)  # SignatureError: not the targets key's (400)
            current = self.current_targets()
            if current is not None and new.signed.version <= current.signed.version:
                raise ConflictError(
                    f"targets version {new.signed.version} is not newer than the stored {current.signed.version}"
                )
            if new.signed.is_expired():
                raise ResourceError(f"targets version {new.signed.version} expired at {new.signed.expires}")
            staged = self._check_targets(new, files)
            for stored, body in staged.items():
                path = self.targets / stored
                if not path.exists():
                    private_folder(path.parent)
                    atomic_write_bytes(path, body)
            private_folder(self.metadata)
            atomic_write_bytes(self.metadata / f"{new.signed.version}.targets.json", to_bytes(new))
            self._sign_online()
        return new.signed.version

    def _check_targets(self, new, files: dict[str, bytes]) -> dict[str, bytes]:
        """The new target files to write, by stored name; ResourceError for anything that does not fit."""
        from tuf.api.exceptions import LengthOrHashMismatchError

        staged = {}
        for path in files:
            if path not in new.signed.targets:
                raise ResourceError(f"{path!r} is sent but not listed in the targets metadata")
        for path, info in new.signed.targets.items():
            if not TARGET_RE.fullmatch(path):
                raise ResourceError(
                    f"{path[:80]!r} is not a target name of this fleet (releases/N.json, channels/X.json)"
                )
            if "sha256" not in info.hashes:
                raise ResourceError(f"target {path} has no sha256")
            stored = target_file_name(path, info.hashes["sha256"])
            body = files.get(path)
            if body is None:  # checked when it was sent
                if not (self.targets / stored).is_file():
                    raise ResourceError(f"target {path} is listed but its bytes were neither sent nor stored before")
                continue
            try:
                info.verify_length_and_hashes(body)
            except LengthOrHashMismatchError as exc:
                raise ResourceError(f"target {path}: {exc}") from None
            _check_document(path, body)
            staged[stored] = body
        return staged

    def resign_if_due(self) -> bool:
        """Re-sign snapshot and timestamp when less than half their lifetime is left; True when it did."""
        newest = self.metadata / "timestamp.json"
        if self.current_targets() is None or not self.online_key.exists():
            return False
        if newest.exists():
            timestamp = load(newest.read_bytes(), TIMESTAMP)
            left = (timestamp.signed.expires - utcnow()).total_seconds()
            if left > self.expiry_hours * 3600 / 2:
                return False
        with self._lock:
            self._sign_online()
        return True

    def _sign_online(self) -> None:
        """New snapshot and timestamp over the newest targets, signed with the online key (lock held)."""
        import datetime as dt

        from tuf.api.metadata import Metadata, MetaFile, Snapshot, Timestamp

        root, targets = self.root(), self.current_targets()
        if root is None or targets is None:
            return
        signer = self._signer()
        if signer.public_key.keyid not in root.signed.roles[SNAPSHOT].keyids:
            raise ConflictError(
                f"the root names other online keys than this api's ({signer.public_key.keyid[:16]}…); install the "
                "root made with this api's online key (`python -m api trust online-key`)"
            )
        expires = utcnow() + dt.timedelta(hours=self.expiry_hours)
        previous_snapshot = _newest(self.metadata, SNAPSHOT)
        snapshot = Metadata(
            Snapshot(
                version=(previous_snapshot[0] + 1) if previous_snapshot else 1,
                expires=expires,
                meta={"targets.json": MetaFile(version=targets.signed.version)},
            )
        )
        snapshot.sign(signer)
        snapshot_bytes = to_bytes(snapshot)
        atomic_write_bytes(self.metadata / f"{snapshot.signed.version}.snapshot.json", snapshot_bytes)
        timestamp_path = self.metadata / "timestamp.json"
        version = load(timestamp_path.read_bytes(), TIMESTAMP).signed.version + 1 if timestamp_path.exists() else 1
        timestamp = Metadata(
            Timestamp(version=version, expires=expires, snapshot_meta=MetaFile(version=snapshot.signed.version))
        )
        timestamp.sign(signer)
        atomic_write_bytes(timestamp_path, to_bytes(timestamp))
        log.info("signed snapshot %d and timestamp %d, valid until %s", snapshot.signed.version, version, expires)


def _check_document(path: str, body: bytes) -> None:
    """A release manifest or channel pointer that reads as one (SignatureError otherwise), naming only
    resources of the naming rule (ResourceError otherwise)."""
    from api.resources import check_name
    from azaion_shared.releases import parse_pointer, parse_release

    if path.startswith("releases/"):
        release = parse_release(body)
        if path != f"releases/{release.version}.json":
            raise ResourceError(f"target {path} holds release {release.version}")
        for artifact in release.artifacts:
            check_name(artifact.resource)
    else:
        parse_pointer(body, path.removeprefix("channels/").removesuffix(".json"))
