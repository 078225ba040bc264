"""The fleet's trust as The Update Framework (TUF) metadata: roles, keys and target names.

The reference implementation, python-tuf, does the cryptography and the checks; this module holds
our decisions about it, used by the offline root ceremony (``python -m azaion_shared root``), the
api (which serves the metadata and signs the short-lived roles) and the trainer (which signs the
targets role):

- **root**: offline keys with a threshold (for example 2 of 3), made with ``python -m azaion_shared
  keygen --signing --name root-1``. It names the keys of every other role. A new root must be signed
  by a threshold of the old root's keys and of its own (TUF's root rotation).
- **targets**: the publisher's key on the training server signs the list of release manifests
  (``releases/{N}.json``) and channel pointers (``channels/{name}.json``) with their hashes and
  lengths. A manifest in turn names its artifacts' parts with their hashes and sizes.
- **snapshot** and **timestamp**: the api's online key re-signs them with a short expiry (a day by
  default), so that a device can tell a fresh "nothing changed" from an api that stopped answering
  truthfully (a freeze).

Consistent snapshots are on: every metadata version and every target file is stored under its own
name, so nothing a device is reading is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from azaion_shared.errors import SignatureError

ROOT, TARGETS, SNAPSHOT, TIMESTAMP = "root", "targets", "snapshot", "timestamp"
ONLINE_ROLES = (SNAPSHOT, TIMESTAMP)
RELEASE_TARGET = "releases/{version}.json"
CHANNEL_TARGET = "channels/{channel}.json"
TARGET_RE = re.compile(r"(releases/[1-9][0-9]{0,8}|channels/[a-z][a-z0-9-]{0,31})\.json")
#: Names the api serves its metadata under (consistent snapshots: versioned, timestamp not).
METADATA_FILE_RE = re.compile(r"([1-9][0-9]{0,8})\.(root|targets|snapshot)\.json|timestamp\.json")
DEFAULT_ROOT_EXPIRY_DAYS = 365
DEFAULT_TARGETS_EXPIRY_DAYS = 365
DEFAULT_ONLINE_EXPIRY_HOURS = 24.0


def release_target(version: int) -> str:
    return RELEASE_TARGET.format(version=version)


def channel_target(channel: str) -> str:
    return CHANNEL_TARGET.format(channel=channel)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # noqa: UP017 - Python 3.10 on Jetsons


def in_days(days: float) -> dt.datetime:
    return utcnow() + dt.timedelta(days=days)


# --- keys ------------------------------------------------------------------------------------------


def public_key(path: str | Path):
    """A TUF key (securesystemslib) from an Ed25519 public key file made by ``keygen --signing``."""
    from securesystemslib.signer import SSlibKey

    from azaion_shared.signing import load_public

    return SSlibKey.from_crypto(load_public(path))


def signer(path: str | Path):
    """A TUF signer from an Ed25519 private key file made by ``keygen --signing``."""
    from securesystemslib.signer import CryptoSigner

    from azaion_shared.signing import load_private

    return CryptoSigner(load_private(path))


def key_ids(keys) -> list[str]:
    return [key.keyid for key in keys]


# --- metadata --------------------------------------------------------------------------------------


def load(data: bytes, role: str):
    """Metadata of ``role`` from bytes, or SignatureError saying what it is instead."""
    from tuf.api.metadata import Metadata

    try:
        metadata = Metadata.from_bytes(data)
    except Exception as exc:  # python-tuf raises several kinds for bytes that are not metadata
        raise SignatureError(f"not TUF metadata: {exc}") from None
    if metadata.signed.type != role:
        raise SignatureError(f"expected {role} metadata, got {metadata.signed.type}")
    return metadata


def new_root(
    root_keys: list,
    threshold: int,
    targets_keys: list,
    online_keys: list,
    *,
    targets_threshold: int = 1,
    expires_days: float = DEFAULT_ROOT_EXPIRY_DAYS,
    previous=None,
):
    """An unsigned root (version 1, or the one after ``previous``) naming every role's keys."""
    from tuf.api.metadata import Metadata, Role, Root

    if not 1 <= threshold <= len(root_keys):
        raise SignatureError(
            f"a root threshold of {threshold} needs at least that many root keys (got {len(root_keys)})"
        )
    if not 1 <= targets_threshold <= len(targets_keys):
        raise SignatureError(f"a targets threshold of {targets_threshold} needs that many targets keys")
    if not online_keys:
        raise SignatureError("the root needs the api's online key (snapshot and timestamp)")
    keys = {key.keyid: key for key in (*root_keys, *targets_keys, *online_keys)}
    roles = {
        ROOT: Role(key_ids(root_keys), threshold),
        TARGETS: Role(key_ids(targets_keys), targets_threshold),
        SNAPSHOT: Role(key_ids(online_keys), 1),
        TIMESTAMP: Role(key_ids(online_keys), 1),
    }
    version = previous.signed.version + 1 if previous is not None else 1
    root = Root(version=version, expires=in_days(expires_days), keys=keys, roles=roles, consistent_snapshot=True)
    return Metadata(root)


def check_root(new, trusted=None) -> str:
    """Raise SignatureError unless ``new`` may follow ``trusted`` (or, without one, is a valid first root):
    the next version, signed by a threshold of the old root's keys and of its own. Returns a summary."""
    from tuf.api.serialization.json import CanonicalJSONSerializer

    payload = CanonicalJSONSerializer().serialize(new.signed)
    if trusted is not None and new.signed.version != trusted.signed.version + 1:
        raise SignatureError(
            f"root version {new.signed.version} cannot follow the trusted root version {trusted.signed.version} "
            f"(it must be {trusted.signed.version + 1})"
        )
    result = new.signed.get_root_verification_result(
        trusted.signed if trusted is not None else None, payload, new.signatures
    )
    if not result.verified:
        parts = []
        for label, verdict in (("the previous root", result.first), ("the new root itself", result.second)):
            parts.append(f"{len(verdict.signed)} of the {verdict.threshold} signatures {label} requires")
        raise SignatureError(f"root version {new.signed.version} is under-signed: {'; '.join(parts)}")
    return f"root version {new.signed.version}: signed by {len(new.signatures)} keys, expires {new.signed.expires}"


def check_signed_by(root, role: str, metadata) -> None:
    """Raise SignatureError unless ``metadata`` carries a threshold of ``role``'s signatures under ``root``."""
    from tuf.api.metadata import UnsignedMetadataError
    from tuf.api.serialization.json import CanonicalJSONSerializer

    payload = CanonicalJSONSerializer().serialize(metadata.signed)
    try:
        root.signed.verify_delegate(role, payload, metadata.signatures)
    except UnsignedMetadataError as exc:
        raise SignatureError(
            f"{role} version {metadata.signed.version} is not signed by the {role} key: {exc}"
        ) from None


def targets(version: int, files: dict, expires_days: float = DEFAULT_TARGETS_EXPIRY_DAYS):
    """Unsigned targets metadata listing ``files`` (TUF TargetFile by path)."""
    from tuf.api.metadata import Metadata, Targets

    return Metadata(Targets(version=version, expires=in_days(expires_days), targets=dict(files)))


def target_file(path: str, data: bytes):
    from tuf.api.metadata import TargetFile

    if not TARGET_RE.fullmatch(path):
        raise SignatureError(f"{path!r} is not a target name this fleet uses (releases/N.json, channels/NAME.json)")
    return TargetFile.from_data(path, data, ["sha256"])


def to_bytes(metadata) -> bytes:
    from tuf.api.serialization.json import JSONSerializer

    return JSONSerializer(compact=False).serialize(metadata)
