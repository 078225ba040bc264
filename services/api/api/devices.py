"""The device inventory: the last heartbeat of every edge device (``python -m api devices list``).

Each device reports its name, the release it runs, its backend, its frames per second, its last error
and when it last confirmed the fleet's metadata fresh; the api adds who reported it (the logged-in
Device account) and when. A device's row belongs to the account that reported it first: another
account naming the same device is refused (``api devices forget NAME`` frees a name). Kept in the
users database.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.database import Database
from api.errors import ConflictError
from azaion_shared.http_contract import DeviceRecord as Device

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    name TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    version TEXT,
    backend TEXT,
    fps REAL,
    last_error TEXT,
    seen_at TEXT NOT NULL
)
"""
_COLUMNS = ("name", "user", "version", "backend", "fps", "last_error", "seen_at", "confirmed_at")


def _setup(db: sqlite3.Connection) -> None:
    db.execute(_SCHEMA)
    have = {row[1] for row in db.execute("PRAGMA table_info(devices)")}
    if "confirmed_at" not in have:  # an inventory from before freshness was reported
        db.execute("ALTER TABLE devices ADD COLUMN confirmed_at TEXT")


def staleness(device: Device, now: datetime, fresh_for: timedelta) -> str | None:
    """Why a device is out of date, or None: no heartbeat lately, or metadata not confirmed fresh lately
    (the api it reaches is frozen, or it cannot verify what it gets)."""
    for label, stamp in (("no heartbeat", device.seen_at), ("metadata not confirmed fresh", device.confirmed_at)):
        if stamp is None:
            return f"{label} yet"
        try:
            age = now - datetime.fromisoformat(stamp)
        except ValueError:
            return f"{label}: unreadable time {stamp!r}"
        if age > fresh_for:
            return f"{label} for {age.total_seconds() / 3600:.1f} h"
    return None


class DeviceStore:
    def __init__(self, path: str | Path):
        self._database = Database(path, _setup)

    def _db(self) -> sqlite3.Connection:
        return self._database.connection()

    def report(
        self,
        name: str,
        user: str,
        version: str | None,
        backend: str | None,
        fps: float | None,
        last_error: str | None,
        confirmed_at: str | None = None,
    ) -> Device:
        """Record a heartbeat; ConflictError when another account owns the name."""
        seen = datetime.now(UTC).isoformat(timespec="seconds")
        with self._db() as db:
            owner = db.execute("SELECT user FROM devices WHERE name = ?", (name,)).fetchone()
            if owner is not None and owner[0] != user:
                raise ConflictError(
                    f"device {name} reports as account {owner[0]}; {user} may not speak for it "
                    f"(an Admin frees the name with `python -m api devices forget {name}`)"
                )
            db.execute(
                "INSERT INTO devices (name, user, version, backend, fps, last_error, seen_at, confirmed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET version = excluded.version, backend = excluded.backend, "
                "fps = excluded.fps, last_error = excluded.last_error, seen_at = excluded.seen_at, "
                "confirmed_at = excluded.confirmed_at",
                (name, user, version, backend, fps, last_error, seen, confirmed_at),
            )
        return Device(
            name=name,
            user=user,
            version=version,
            backend=backend,
            fps=fps,
            last_error=last_error,
            seen_at=seen,
            confirmed_at=confirmed_at,
        )

    def forget(self, name: str) -> bool:
        with self._db() as db:
            return db.execute("DELETE FROM devices WHERE name = ?", (name,)).rowcount > 0

    def list(self, version: str | None = None, fresh_for: timedelta | None = None) -> list[Device]:
        """Every device (``version``: those running it), marked stale against ``fresh_for``."""
        query, args = f"SELECT {', '.join(_COLUMNS)} FROM devices", ()
        if version is not None:
            query, args = query + " WHERE version = ?", (version,)
        rows = self._db().execute(query + " ORDER BY name", args).fetchall()
        devices = [Device(**dict(zip(_COLUMNS, row, strict=True))) for row in rows]
        if fresh_for is not None:
            now = datetime.now(UTC)
            devices = [d.model_copy(update={"stale": staleness(d, now, fresh_for)}) for d in devices]
        return devices
