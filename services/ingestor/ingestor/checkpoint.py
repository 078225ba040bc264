"""``offset.yaml``: the last stream offset whose effects are durable on disk.

Besides the offset it keeps the chunk timestamp of that message and an *epoch*: when the
stream is found rewritten (deleted and recreated, or truncated by a broker that lost data,
so that its offsets start over), the epoch goes up and consumption restarts from the
stream's first offset; files stamped in an older epoch count as older than anything new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from azaion_shared.atomic import atomic_write_text
from ingestor.errors import FatalConfigError


@dataclass(frozen=True)
class Position:
    offset: int | None  # None: nothing applied in this epoch yet (start at the first offset)
    timestamp: int | None = None  # chunk timestamp (ms) of the message at ``offset``
    epoch: int = 0


class Checkpoint:
    def __init__(self, path: Path, stream: str):
        self.path = path
        self.stream = stream

    def read(self) -> Position:
        """The stored position (offset None when there is none yet)."""
        if not self.path.exists():
            return Position(None)
        try:
            data = yaml.safe_load(self.path.read_text())
            offset = data["offset"]
        except (OSError, yaml.YAMLError, TypeError, KeyError) as exc:
            raise FatalConfigError(
                f"cannot read the checkpoint {self.path}: {exc}. Fix or remove it (removing replays the whole "
                "stream, which is safe: every operation is idempotent)"
            ) from exc
        epoch, timestamp = data.get("epoch", 0), data.get("timestamp")
        if offset is not None and (not isinstance(offset, int) or offset < 0):
            raise FatalConfigError(f"the checkpoint {self.path} holds offset {offset!r}, not a stream offset")
        if not isinstance(epoch, int) or epoch < 0 or not (timestamp is None or isinstance(timestamp, int)):
            raise FatalConfigError(f"the checkpoint {self.path} holds a malformed epoch or timestamp")
        stored_stream = data.get("stream")
        if stored_stream and stored_stream != self.stream:
            raise FatalConfigError(
                f"the checkpoint {self.path} belongs to stream {stored_stream!r}, not {self.stream!r}; "
                "move it away to start this stream from its beginning"
            )
        return Position(offset, timestamp, epoch)

    def write(self, position: Position) -> None:
        text = yaml.safe_dump(
            {
                "offset": position.offset,
                "timestamp": position.timestamp,
                "epoch": position.epoch,
                "stream": self.stream,
                "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            sort_keys=False,
        )
        atomic_write_text(self.path, text)
