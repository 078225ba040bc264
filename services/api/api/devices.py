"""The device inventory: the last heartbeat of every edge device (``python -m api devices list``).

Each device reports its name, the model version it runs, its backend, its frames per second and its
last error; the api adds who reported it (the logged-in user) and when. Kept in the users database.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from api.database import Database
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


class DeviceStore:
    def __init__(self, path: str | Path):
        self._database = Database(path, lambda db: db.execute(_SCHEMA))

    def _db(self) -> sqlite3.Connection:
        return self._database.connection()

    def report(
        self, name: str, user: str, version: str | None, backend: str | None, fps: float | None, last_error: str | None
    ) -> Device:
        seen = datetime.now(UTC).isoformat(timespec="seconds")
        with self._db() as db:
            db.execute(
                "INSERT INTO devices (name, user, version, backend, fps, last_error, seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET user = excluded.user, version = excluded.version, "
                "backend = excluded.backend, fps = excluded.fps, last_error = excluded.last_error, "
                "seen_at = excluded.seen_at",
                (name, user, version, backend, fps, last_error, seen),
            )
        return Device(
            name=name, user=user, version=version, backend=backend, fps=fps, last_error=last_error, seen_at=seen
        )

    def list(self, version: str | None = None) -> list[Device]:
        query, args = "SELECT name, user, version, backend, fps, last_error, seen_at FROM devices", ()
        if version is not None:
            query, args = query + " WHERE version = ?", (version,)
        rows = self._db().execute(query + " ORDER BY name", args).fetchall()
        return [Device(**dict(zip(Device.model_fields, row, strict=True))) for row in rows]
