"""``offset.yaml``: the last stream offset whose effects are durable on disk."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from azaion_shared.atomic import atomic_write_text
from ingestor.errors import FatalConfigError


class Checkpoint:
    def __init__(self, path: Path, stream: str):
        self.path = path
        self.stream = stream

    def read(self) -> int | None:
        """The stored offset, or None when there is none yet."""
        if not self.path.exists():
            return None
        try:
            data = yaml.safe_load(self.path.read_text())
            offset = data["offset"]
        except (OSError, yaml.YAMLError, TypeError, KeyError) as exc:
            raise FatalConfigError(
                f"cannot read the checkpoint {self.path}: {exc}. Fix or remove it (removing replays the whole "
                "stream, which is safe: every operation is idempotent)"
            ) from exc
        if not isinstance(offset, int) or offset < 0:
            raise FatalConfigError(f"the checkpoint {self.path} holds offset {offset!r}, not a stream offset")
        stored_stream = data.get("stream")
        if stored_stream and stored_stream != self.stream:
            raise FatalConfigError(
                f"the checkpoint {self.path} belongs to stream {stored_stream!r}, not {self.stream!r}; "
                "move it away to start this stream from its beginning"
            )
        return offset

    def write(self, offset: int) -> None:
        text = yaml.safe_dump(
            {"offset": offset, "stream": self.stream, "updated_at": datetime.now(UTC).isoformat(timespec="seconds")},
            sort_keys=False,
        )
        atomic_write_text(self.path, text)
