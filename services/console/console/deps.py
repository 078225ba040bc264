"""What every page of the console shares, as FastAPI dependencies: the state built by ``create_app``
(options, the data root's reader, the api, the templates) and the Admin's session.

The session: the console logs the user in at the api with their own credentials, checks the role the
api gives them, and keeps the api's token inside its own signed session (a JWT signed with the
console's secret) in an HttpOnly, SameSite=Strict cookie.

No ``from __future__ import annotations``: FastAPI reads these annotations at run time.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from azaion_shared.roles import Role
from console.errors import Unauthorized
from console.settings import ConsoleOptions
from console.sources import Api, Rate
from console.state import Pipeline

COOKIE = "azaion_console"


@dataclass
class Console:
    """Everything the pages use, built once by ``create_app`` (``app.state.console``)."""

    options: ConsoleOptions
    pipeline: Pipeline
    api: Api
    templates: Environment
    secret: str
    rate: Rate
    pool: ThreadPoolExecutor

    def page(self, template: str, status: int = 200, **values) -> HTMLResponse:
        body = self.templates.get_template(template).render(refresh=self.options.refresh_seconds, **values)
        return HTMLResponse(body, status_code=status)

    def session_cookie(self, email: str, role: str, token: str) -> str:
        expires = datetime.now(UTC) + timedelta(minutes=self.options.session_minutes)
        return jwt.encode({"sub": email, "role": role, "api": token, "exp": expires}, self.secret, algorithm="HS256")


def console(request: Request) -> Console:
    return request.app.state.console


ConsoleDep = Annotated[Console, Depends(console)]


def admin_session(request: Request, found: ConsoleDep) -> dict:
    """The signed session of an Admin (its claims: ``sub``, ``role``, ``api`` = the api's token), or
    Unauthorized (a redirect to the login page)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise Unauthorized("not logged in")
    try:
        claims = jwt.decode(cookie, found.secret, algorithms=["HS256"], options={"require": ["exp", "sub", "role"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"session: {exc}") from None
    if claims.get("role") != Role.ADMIN.value:
        raise Unauthorized("only an Admin may use the console")
    return claims


Session = Annotated[dict, Depends(admin_session)]
