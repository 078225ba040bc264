"""The FastAPI application (DESIGN.md, "API").

No `from __future__ import annotations` here: FastAPI resolves the dependencies
of the endpoints defined inside create_app from their real annotations.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from api.errors import ResourceError
from api.resources import ResourceStore, TooLargeError, check_name
from api.settings import ApiSettings
from api.tokens import Claims, TokenError, TokenIssuer
from api.users import User, UserStore
from azaion_shared.roles import UPLOAD_ROLES, Role


class LoginRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class LoginResponse(BaseModel):
    token: str


class Stored(BaseModel):
    name: str
    size: int


_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def create_app(settings: ApiSettings, users: UserStore | None = None) -> FastAPI:
    """Build the app from settings (nothing happens at import time)."""
    users = users or UserStore(settings.db_file())
    issuer = TokenIssuer(settings.jwt_secret(), timedelta(minutes=settings.api.token_minutes))
    store = ResourceStore(settings.resources_folder(), settings.api.max_upload_mb * 1024 * 1024)
    app = FastAPI(
        title="Azaion API",
        version="0.1.0",
        description="JWT login and the store for the small parts of protected models.",
    )

    def current_user(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
        if creds is None or creds.scheme.lower() != "bearer":
            raise _unauthorized("missing bearer token")
        try:
            claims: Claims = issuer.verify(creds.credentials)
        except TokenError as exc:
            raise _unauthorized(str(exc)) from None
        user = users.get(claims.email)
        if user is None:  # removed since the token was issued
            raise _unauthorized("user no longer exists")
        return user

    def resource_name(name: str) -> str:
        try:
            return check_name(name)
        except ResourceError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        users.list()  # the database answers
        return {"status": "ok"}

    @app.post("/login", response_model=LoginResponse, tags=["auth"])
    def login(body: LoginRequest) -> LoginResponse:
        user = users.authenticate(body.email, body.password) if "@" in body.email else None
        if user is None:
            raise _unauthorized("wrong email or password")
        return LoginResponse(token=issuer.issue(user.email, user.role.value))

    @app.get("/resources/{name}", tags=["resources"], response_class=FileResponse)
    def get_resource(name: Annotated[str, Depends(resource_name)], user: Annotated[User, Depends(current_user)]):
        path = store.path(name)
        if not path.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no resource {name}")
        return FileResponse(path, media_type="application/octet-stream")

    @app.put("/resources/{name}", response_model=Stored, tags=["resources"])
    async def put_resource(
        name: Annotated[str, Depends(resource_name)], request: Request, user: Annotated[User, Depends(current_user)]
    ) -> Stored:
        if user.role not in UPLOAD_ROLES:
            allowed = ", ".join(sorted(r.value for r in UPLOAD_ROLES))
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not upload; needs {allowed}")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > store.max_bytes:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"upload over {store.max_bytes} bytes")
        try:
            size = await store.save(name, request.stream())
        except TooLargeError as exc:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
        return Stored(name=name, size=size)

    app.state.users = users
    app.state.issuer = issuer
    app.state.roles = [r.value for r in Role]
    return app
