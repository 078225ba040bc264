"""Users and roles in SQLite, passwords hashed with argon2."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.errors import UserError
from azaion_shared.roles import Role


def parse_role(value: str) -> Role:
    """A role by name for the users command; a UserError names the choices."""
    role = Role.lookup(value)
    if role is None:
        raise UserError(f"unknown role {value!r}; one of: {', '.join(r.value for r in Role)}")
    return role


MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class User:
    email: str
    role: Role
    created_at: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    email TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""


class UserStore:
    """A small SQLite store; one connection per thread (uvicorn runs sync endpoints in a pool)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._hasher = PasswordHasher()
        # A hash to verify against when the email is unknown, so that timing does not tell.
        self._dummy_hash = self._hasher.hash("not-a-real-password")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            db.commit()
            self._local.db = db
        return db

    def add(self, email: str, password: str, role: Role) -> User:
        email = _normal_email(email)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
        created = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            with self._db() as db:
                db.execute(
                    "INSERT INTO users (email, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
                    (email, self._hasher.hash(password), role.value, created),
                )
        except sqlite3.IntegrityError:
            raise UserError(f"user {email} already exists (remove it first to change it)") from None
        return User(email, role, created)

    def remove(self, email: str) -> None:
        email = _normal_email(email)
        with self._db() as db:
            if db.execute("DELETE FROM users WHERE email = ?", (email,)).rowcount == 0:
                raise UserError(f"no user {email}")

    def list(self) -> list[User]:
        rows = self._db().execute("SELECT email, role, created_at FROM users ORDER BY email").fetchall()
        return [User(email, Role(role), created) for email, role, created in rows]

    def get(self, email: str) -> User | None:
        row = (
            self._db()
            .execute("SELECT email, role, created_at FROM users WHERE email = ?", (_normal_email(email),))
            .fetchone()
        )
        return User(row[0], Role(row[1]), row[2]) if row else None

    def authenticate(self, email: str, password: str) -> User | None:
        """The user when the password is right, else None (same work either way)."""
        row = (
            self._db()
            .execute(
                "SELECT email, password_hash, role, created_at FROM users WHERE email = ?", (_normal_email(email),)
            )
            .fetchone()
        )
        try:
            self._hasher.verify(row[1] if row else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return User(row[0], Role(row[2]), row[3]) if row else None


def _normal_email(email: str) -> str:
    email = email.strip().lower()
    if not email or "@" not in email or len(email) > 320:
        raise UserError(f"invalid email {email!r}")
    return email
