"""The api's SQLite database: one connection per thread (uvicorn runs sync endpoints in a pool), the file
and its -wal/-shm companions private (0600) since they hold password hashes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from azaion_shared.atomic import private_file, private_folder


class Database:
    def __init__(self, path: str | Path, setup: Callable[[sqlite3.Connection], None]):
        self.path = Path(path)
        self._setup = setup  # creates (or upgrades) the tables; runs on every new connection
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            private_folder(self.path.parent)
            private_file(self.path)
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            self._setup(db)
            db.commit()
            for suffix in ("-wal", "-shm"):
                private_file(self.path.with_name(self.path.name + suffix), create=False)
            self._local.db = db
        return db
