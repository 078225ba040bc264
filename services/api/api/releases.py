"""The store of signed release manifests and channel pointers (azaion_shared.releases).

The api keeps and serves them; it does not vouch for them. Devices verify every signature
against the publisher keys they trust, so a compromised api can withhold a release but not forge
one. What the api does check: the envelope's shape, that a manifest is stored under its own
version and never replaced by different bytes, and that a channel's sequence only grows.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from api.errors import ConflictError, ResourceError
from azaion_shared.atomic import atomic_write_bytes, private_folder
from azaion_shared.releases import CHANNEL_KIND, RELEASE_KIND

CHANNEL_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
MAX_DOCUMENT_BYTES = 1024 * 1024


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _payload(body: bytes, kind: str) -> dict:
    """The (unverified) payload of an envelope, checked for shape and kind."""
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ResourceError(f"a signed document over {MAX_DOCUMENT_BYTES} bytes")
    try:
        envelope = json.loads(body)
        payload = json.loads(envelope["payload"])
        signatures = envelope["signatures"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ResourceError(f"not a signed envelope ({{'payload': ..., 'signatures': [...]}}): {exc!r}") from None
    if not isinstance(payload, dict) or not isinstance(signatures, list) or not signatures:
        raise ResourceError("a signed envelope needs a JSON object payload and at least one signature")
    if payload.get("kind") != kind:
        raise ResourceError(f"expected a document of kind {kind}, got {payload.get('kind')!r}")
    return payload


class ReleaseStore:
    def __init__(self, folder: str | Path):
        self.releases = Path(folder) / "releases"
        self.channels = Path(folder) / "channels"

    # --- releases -----------------------------------------------------------------------------
    def put_release(self, version: int, body: bytes) -> bool:
        """Store release ``version``; True when new, False when the same bytes were there already."""
        payload = _payload(body, RELEASE_KIND)
        if payload.get("version") != version:
            raise ResourceError(f"the manifest is release {payload.get('version')!r}, stored as {version}")
        path = self.releases / f"{version}.json"
        if path.exists():
            if path.read_bytes() == body:
                return False
            raise ConflictError(f"release {version} exists with other content; publish a new version")
        private_folder(self.releases)
        atomic_write_bytes(path, body)
        return True

    def delete_release(self, version: int) -> list[str]:
        """Forget release ``version``; returns its artifacts' resource names (their parts go too).
        A release a channel points at is refused: devices would lose the model they are told to run."""
        body = self.release(version)
        if body is None:
            raise ResourceError(f"no release {version}")
        for channel in sorted(self.channels.glob("*.json")) if self.channels.is_dir() else []:
            if json.loads(json.loads(channel.read_bytes())["payload"])["version"] == version:
                raise ConflictError(f"channel {channel.stem} points at release {version}; move it first")
        resources = [str(a["resource"]) for a in json.loads(json.loads(body)["payload"]).get("artifacts", [])]
        (self.releases / f"{version}.json").unlink()
        return resources

    def release(self, version: int) -> bytes | None:
        path = self.releases / f"{version}.json"
        return path.read_bytes() if path.is_file() else None

    def versions(self) -> list[int]:
        if not self.releases.is_dir():
            return []
        return sorted(int(p.stem) for p in self.releases.glob("*.json") if p.stem.isdigit())

    # --- channels -----------------------------------------------------------------------------
    def put_channel(self, channel: str, body: bytes) -> int:
        """Store the channel's pointer when its sequence is newer than the stored one; returns the sequence."""
        if not CHANNEL_RE.fullmatch(channel):
            raise ResourceError(f"invalid channel name {channel[:40]!r}: lower-case letters, digits and '-'")
        payload = _payload(body, CHANNEL_KIND)
        if payload.get("channel") != channel:
            raise ResourceError(f"the pointer is for channel {payload.get('channel')!r}, stored as {channel!r}")
        sequence = payload.get("sequence")
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise ResourceError("a channel pointer needs an integer sequence")
        current = self.channel(channel)
        if current is not None:
            stored = json.loads(json.loads(current)["payload"])["sequence"]
            if sequence <= stored:
                raise ConflictError(
                    f"channel {channel} is at sequence {stored}; a new pointer needs a higher one (got {sequence})"
                )
        private_folder(self.channels)
        atomic_write_bytes(self.channels / f"{channel}.json", body)
        return sequence

    def channel(self, channel: str) -> bytes | None:
        if not CHANNEL_RE.fullmatch(channel):
            return None
        path = self.channels / f"{channel}.json"
        return path.read_bytes() if path.is_file() else None
