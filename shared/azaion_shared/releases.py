"""Releases and channels: the signed documents a fleet updates from (issue 17, first part).

- A :class:`Release` says what the training server released as version N: the run it came from,
  its gate metrics, the class names, when, and for every artifact its versioned resource name,
  format, input size, batch, precision and the SHA-256 and size of its encrypted small and big
  parts and of its plaintext.
- A :class:`ChannelPointer` (``stable`` at least) says which version a channel runs; its
  ``sequence`` only ever grows, so a rollback is a new, higher sequence pointing at an older
  version, and a device refuses any pointer older than one it has seen (no replay).

Both travel as signed envelopes (:mod:`azaion_shared.signing`) with a ``kind`` inside the signed
payload, so that one cannot be passed off as the other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Any

from azaion_shared.errors import SignatureError
from azaion_shared.model_formats import TENSORRT
from azaion_shared.signing import sign, verify

RELEASE_KIND = "azaion.release.v1"
CHANNEL_KIND = "azaion.channel.v1"
DEFAULT_CHANNEL = "stable"


def versioned_resource(resource: str, version: int) -> str:
    """``azaion.onnx`` -> ``azaion.v7.onnx``, ``azaion.cc87.engine`` -> ``azaion.cc87.v7.engine``: every
    release's artifacts under names of their own, so publishing never overwrites what devices download."""
    if version < 1:
        raise ValueError(f"release versions start at 1, got {version}")
    suffix = PurePath(resource).suffix
    return f"{resource[: -len(suffix)] if suffix else resource}.v{version}{suffix}"


@dataclass(frozen=True)
class Artifact:
    resource: str  # the versioned resource name (small part at the api, big part at the CDN)
    format: str  # onnx | tensorrt | rknn (azaion_shared.model_formats)
    imgsz: tuple[int, int] | None
    batch: int | None
    precision: str | None
    plaintext_sha256: str
    plaintext_size: int
    small_sha256: str
    small_size: int
    big_sha256: str
    big_size: int
    compute_capability: str | None = None  # TensorRT engines only


@dataclass(frozen=True)
class Release:
    version: int
    run: str
    created: str  # ISO 8601, UTC
    metrics: dict[str, float]  # map50_95, map50 of the gate
    classes: dict[str, str]
    artifacts: tuple[Artifact, ...] = field(default_factory=tuple)

    def artifact(self, fmt: str, compute_capability: str | None = None) -> Artifact | None:
        """The artifact of a format (an engine: of that compute capability); None when the release has none."""
        for artifact in self.artifacts:
            if artifact.format == fmt and (fmt != TENSORRT.name or artifact.compute_capability == compute_capability):
                return artifact
        return None

    def to_document(self) -> dict[str, Any]:
        document = asdict(self)
        document["kind"] = RELEASE_KIND
        document["artifacts"] = [
            {**a, "imgsz": list(a["imgsz"]) if a["imgsz"] else None} for a in document["artifacts"]
        ]
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Release:
        if document.get("kind") != RELEASE_KIND:
            raise SignatureError(f"not a release manifest (kind {document.get('kind')!r})")
        try:
            artifacts = tuple(
                Artifact(**{**a, "imgsz": tuple(a["imgsz"]) if a.get("imgsz") else None}) for a in document["artifacts"]
            )
            return cls(
                version=int(document["version"]),
                run=str(document["run"]),
                created=str(document["created"]),
                metrics={str(k): float(v) for k, v in document["metrics"].items()},
                classes={str(k): str(v) for k, v in document["classes"].items()},
                artifacts=artifacts,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SignatureError(f"a signed release manifest that does not read as one: {exc!r}") from None


@dataclass(frozen=True)
class ChannelPointer:
    channel: str
    sequence: int
    version: int

    def to_document(self) -> dict[str, Any]:
        return {"kind": CHANNEL_KIND, **asdict(self)}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ChannelPointer:
        if document.get("kind") != CHANNEL_KIND:
            raise SignatureError(f"not a channel pointer (kind {document.get('kind')!r})")
        try:
            return cls(str(document["channel"]), int(document["sequence"]), int(document["version"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise SignatureError(f"a signed channel pointer that does not read as one: {exc!r}") from None


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")  # noqa: UP017 - Python 3.10 on Jetsons


def sign_release(release: Release, private_key) -> dict[str, Any]:
    return sign(release.to_document(), private_key)


def verify_release(envelope: dict[str, Any], trusted: list, expected_version: int | None = None) -> Release:
    """The release, when a trusted publisher signed it (and it is the version asked for)."""
    release = Release.from_document(verify(envelope, trusted))
    if expected_version is not None and release.version != expected_version:
        raise SignatureError(f"asked for release {expected_version}, the signed manifest is release {release.version}")
    return release


def sign_pointer(pointer: ChannelPointer, private_key) -> dict[str, Any]:
    return sign(pointer.to_document(), private_key)


def verify_pointer(
    envelope: dict[str, Any], trusted: list, channel: str, seen_sequence: int | None = None
) -> ChannelPointer:
    """The channel's pointer, when a trusted publisher signed it, it is this channel's, and it is not older
    than the newest this device has seen (a replayed old pointer would roll the fleet back)."""
    pointer = ChannelPointer.from_document(verify(envelope, trusted))
    if pointer.channel != channel:
        raise SignatureError(f"asked for channel {channel!r}, the signed pointer is for {pointer.channel!r}")
    if seen_sequence is not None and pointer.sequence < seen_sequence:
        raise SignatureError(
            f"channel {channel} pointer sequence {pointer.sequence} is older than {seen_sequence}, already seen: "
            "a replayed pointer is refused"
        )
    return pointer
