"""What every route of the api shares, as FastAPI dependencies (the full-stack template's ``deps.py``):
the stores and settings built by ``create_app``, the current user from the bearer token, and the role
checks (``azaion_shared.roles`` decides who may do what; this module only answers 401 or 403).

No ``from __future__ import annotations``: FastAPI reads these annotations at run time.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.devices import DeviceStore
from api.errors import TokenError
from api.resources import ResourceStore, check_name
from api.settings import ApiOptions
from api.throttle import HashGate, SlidingWindow
from api.tokens import TokenIssuer
from api.trust import TrustStore
from api.users import User, UserStore
from azaion_shared.errors import AzaionError
from azaion_shared.roles import UPLOAD_ROLES, Role, may_upload


@dataclass(frozen=True)
class Services:
    """Everything the routes use, built once by ``create_app`` (``app.state.services``)."""

    options: ApiOptions
    users: UserStore
    issuer: TokenIssuer
    resources: ResourceStore
    trust: TrustStore
    devices: DeviceStore
    per_account: SlidingWindow
    per_address: SlidingWindow
    hashes: HashGate


def services(request: Request) -> Services:
    return request.app.state.services


def cdn(request: Request):
    """Where the big parts are; read per request, so that tests may point ``app.state.cdn`` elsewhere."""
    return request.app.state.cdn


ServicesDep = Annotated[Services, Depends(services)]
CdnDep = Annotated[object, Depends(cdn)]

_bearer = HTTPBearer(auto_error=False)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def current_user(found: ServicesDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    if creds is None or creds.scheme.lower() != "bearer":
        raise unauthorized("missing bearer token")
    try:
        claims = found.issuer.verify(creds.credentials)
    except TokenError as exc:
        raise unauthorized(str(exc)) from None
    user = found.users.get(claims.email)
    if user is None:  # removed since the token was issued
        raise unauthorized("user no longer exists")
    if found.users.token_version(claims.email) != claims.version:
        raise unauthorized("token revoked: the password or role changed since it was issued; log in again")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_upload(user: User, action: str = "publish") -> None:
    """403 unless the user's role may store things (``azaion_shared.roles.may_upload``)."""
    if not may_upload(user.role.value):
        allowed = ", ".join(sorted(r.value for r in UPLOAD_ROLES))
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not {action}; needs {allowed}")


def require_admin(user: User, what: str) -> None:
    if user.role is not Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"only an Admin {what}")


def resource_name(name: str) -> str:
    """A resource or part name from the path, checked by the shared naming rule (400 otherwise)."""
    try:
        return check_name(name)
    except AzaionError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


ResourceName = Annotated[str, Depends(resource_name)]
