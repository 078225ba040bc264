"""Users and roles in SQLite, passwords hashed with argon2."""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.database import Database
from api.errors import UserError
from azaion_shared.roles import Role

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
    created_at TEXT NOT NULL,
    token_version TEXT NOT NULL DEFAULT ''
)
"""


def _create_tables(db: sqlite3.Connection) -> None:
    db.execute(_SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(users)")}
    if "token_version" not in columns:  # a database of an earlier version: its tokens carry none
        db.execute("ALTER TABLE users ADD COLUMN token_version TEXT NOT NULL DEFAULT ''")


class UserStore:
    """A small SQLite store; one connection per thread (uvicorn runs sync endpoints in a pool)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._database = Database(self.path, _create_tables)
        self._hasher = PasswordHasher()
        # A hash to verify against when the email is unknown, so that timing does not tell.
        self._dummy_hash = self._hasher.hash("not-a-real-password")

    def _db(self) -> sqlite3.Connection:
        return self._database.connection()

    def add(self, email: str, password: str, role: Role) -> User:
        email = _normal_email(email)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
        created = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            with self._db() as db:
                db.execute(
                    "INSERT INTO users (email, password_hash, role, created_at, token_version) VALUES (?, ?, ?, ?, ?)",
                    (email, self._hasher.hash(password), role.value, created, _new_version()),
                )
        except sqlite3.IntegrityError:
            raise UserError(f"user {email} already exists (change it with `users passwd` or `users role`)") from None
        return User(email, role, created)

    def set_password(self, email: str, password: str) -> None:
        """A new password; every token issued before it stops working."""
        email = _normal_email(email)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
        self._update(email, "password_hash = ?", self._hasher.hash(password))

    def set_role(self, email: str, role: Role) -> None:
        """A new role; every token issued before it (carrying the old role) stops working."""
        self._update(_normal_email(email), "role = ?", role.value)

    def _update(self, email: str, assignment: str, value: str) -> None:
        with self._db() as db:
            changed = db.execute(
                f"UPDATE users SET {assignment}, token_version = ? WHERE email = ?", (value, _new_version(), email)
            ).rowcount
        if changed == 0:
            raise UserError(f"no user {email}")

    def token_version(self, email: str) -> str | None:
        """The version a token of this user must carry; None when there is no such user."""
        row = self._db().execute("SELECT token_version FROM users WHERE email = ?", (_normal_email(email),)).fetchone()
        return row[0] if row else None

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


def _new_version() -> str:
    return secrets.token_urlsafe(12)


def _normal_email(email: str) -> str:
    email = email.strip().lower()
    if not email or "@" not in email or len(email) > 320:
        raise UserError(f"invalid email {email!r}")
    return email
