"""Releases and channels: the documents a fleet updates from.

- A :class:`Release` says what the training server released as version N: the run it came from,
  its gate metrics, the class names, when, and for every artifact its versioned resource name,
  format, input size, batch, precision and the SHA-256 and size of its encrypted small and big
  parts and of its plaintext.
- A :class:`ChannelPointer` (``stable`` at least) says which version a channel runs, and during a
  staged rollout which fraction of the fleet takes it (the rest stays on ``previous``).

Both are TUF targets (``releases/{N}.json``, ``channels/{name}.json``: :mod:`azaion_shared.tuf_repository`):
the publisher's signed targets metadata names their hashes and lengths, and TUF's versions, expiry
and snapshot make a replayed, frozen or mixed-up set of them fail at the device. A ``kind`` inside
each document keeps one from being passed off as the other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Any

from azaion_shared.errors import SignatureError
from azaion_shared.model_formats import TENSORRT

RELEASE_KIND = "azaion.release.v1"
CHANNEL_KIND = "azaion.channel.v2"
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
    """The release a channel runs. ``fraction`` below 1 is a staged rollout: a device takes ``version``
    when :func:`rollout_slot` of its name falls under the fraction, and otherwise stays on ``previous``."""

    channel: str
    version: int
    fraction: float = 1.0
    previous: int | None = None

    def version_for(self, device: str) -> int:
        """The release ``device`` runs under this pointer."""
        if self.fraction >= 1.0 or self.previous is None:
            return self.version
        return self.version if rollout_slot(self.channel, device) < self.fraction else self.previous

    def to_document(self) -> dict[str, Any]:
        return {"kind": CHANNEL_KIND, **asdict(self)}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ChannelPointer:
        if document.get("kind") != CHANNEL_KIND:
            raise SignatureError(f"not a channel pointer (kind {document.get('kind')!r})")
        try:
            fraction = float(document.get("fraction", 1.0))
            previous = document.get("previous")
            pointer = cls(
                str(document["channel"]), int(document["version"]), fraction, int(previous) if previous else None
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SignatureError(f"a channel pointer that does not read as one: {exc!r}") from None
        if not 0.0 <= fraction <= 1.0 or pointer.version < 1:
            raise SignatureError(f"a channel pointer with fraction {fraction} or version {pointer.version}")
        return pointer


def rollout_slot(channel: str, device: str) -> float:
    """A device's stable place in [0, 1) for a channel's staged rollouts (SHA-256 of channel and name)."""
    digest = hashlib.sha256(f"{channel}\n{device}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def now_iso() -> str:
    return iso_at(None)


def iso_at(epoch: float | None) -> str:
    """ISO 8601 in UTC to the second (``2026-12-06T17:00:00+00:00``) of ``epoch`` seconds, or of now."""
    utc = dt.timezone.utc  # noqa: UP017 - Python 3.10 on Jetsons
    moment = dt.datetime.now(utc) if epoch is None else dt.datetime.fromtimestamp(epoch, utc)
    return moment.isoformat(timespec="seconds")


def document_bytes(document: dict[str, Any]) -> bytes:
    """A document as the bytes its TUF target hashes: canonical JSON (sorted keys, no spaces, UTF-8)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _document(data: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise SignatureError(f"{what} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise SignatureError(f"{what} is not a JSON object")
    return document


def parse_release(data: bytes, expected_version: int | None = None) -> Release:
    """A release manifest from its (verified) target bytes, and the version asked for."""
    release = Release.from_document(_document(data, "a release manifest"))
    if expected_version is not None and release.version != expected_version:
        raise SignatureError(f"asked for release {expected_version}, the manifest is release {release.version}")
    return release


def parse_pointer(data: bytes, channel: str) -> ChannelPointer:
    """A channel pointer from its (verified) target bytes, and this channel's."""
    pointer = ChannelPointer.from_document(_document(data, "a channel pointer"))
    if pointer.channel != channel:
        raise SignatureError(f"asked for channel {channel!r}, the pointer is for {pointer.channel!r}")
    return pointer
