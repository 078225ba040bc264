"""JWT access tokens (HS256) carrying the user's email and role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from api.errors import TokenError

ISSUER = "azaion-api"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Claims:
    email: str
    role: str
    version: str  # the user's token version when issued: a password or role change makes a new one


class TokenIssuer:
    def __init__(self, secret: str, lifetime: timedelta):
        self._secret = secret
        self.lifetime = lifetime

    def issue(self, email: str, role: str, version: str, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        payload = {"sub": email, "role": role, "ver": version, "iss": ISSUER, "iat": now, "exp": now + self.lifetime}
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "role", "iss", "ver"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired; log in again") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        return Claims(email=str(payload["sub"]), role=str(payload["role"]), version=str(payload["ver"]))
