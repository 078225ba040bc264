"""The FastAPI application (DESIGN.md, "API").

No `from __future__ import annotations` here: FastAPI resolves the dependencies
of the endpoints defined inside create_app from their real annotations.
"""

import json
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator

from api.devices import DeviceStore
from api.errors import Busy, ConflictError, ResourceError, TokenError
from api.releases import MAX_DOCUMENT_BYTES, ReleaseStore, etag
from api.resources import ResourceStore, TooLargeError, check_name
from api.settings import ApiSettings
from api.throttle import HashGate, SlidingWindow
from api.tokens import Claims, TokenIssuer
from api.users import User, UserStore
from azaion_shared.cdn import storage_from_settings
from azaion_shared.errors import StorageError
from azaion_shared.roles import UPLOAD_ROLES, Role


class LoginRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)

    @field_validator("email", "password")
    @classmethod
    def _encodable(cls, value: str) -> str:
        try:  # a lone UTF-16 surrogate is valid JSON but no text: refuse it here (422), not deep inside (500)
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text") from None
        return value


class LoginResponse(BaseModel):
    token: str


class Heartbeat(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="The device's name.")
    version: str | None = Field(None, max_length=64, description="The model version it runs.")
    backend: str | None = Field(None, max_length=32, description="onnxruntime, tensorrt or rknn.")
    fps: float | None = Field(None, ge=0, le=10_000, description="Frames per second lately.")
    last_error: str | None = Field(None, max_length=500, description="The last error, if any.")


class Stored(BaseModel):
    name: str
    size: int


_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def create_app(settings: ApiSettings, users: UserStore | None = None) -> FastAPI:
    """Build the app from settings (nothing happens at import time)."""
    options = settings.api
    users = users or UserStore(settings.db_file())
    issuer = TokenIssuer(settings.jwt_secret(), timedelta(minutes=options.token_minutes))
    store = ResourceStore(settings.resources_folder(), options.max_upload_mb * 1024 * 1024)
    releases = ReleaseStore(settings.resources_folder().parent)
    app_cdn = storage_from_settings(settings.cdn, settings.root)
    devices = DeviceStore(settings.db_file())
    per_account = SlidingWindow(options.login_failures_per_account, options.login_window_seconds)
    per_address = SlidingWindow(options.login_failures_per_address, options.login_window_seconds)
    hashes = HashGate(options.concurrent_logins)
    docs = settings.docs_enabled()
    app = FastAPI(
        title="Azaion API",
        version="0.1.0",
        description="JWT login and the store for the small parts of protected models.",
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )

    @app.exception_handler(RequestValidationError)
    async def unprocessable(request: Request, exc: RequestValidationError) -> Response:
        """422 with the problems; ASCII-escaped, since the input echoed back may not be text at all."""
        body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True, default=str)
        return Response(body, status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json")

    def client_address(request: Request) -> str:
        """The peer, or behind a trusted reverse proxy the last address before it in X-Forwarded-For."""
        peer = request.client.host if request.client else "unknown"
        if peer not in options.trusted_proxies:
            return peer
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        outside = [h for h in hops if h not in options.trusted_proxies]
        return outside[-1] if outside else peer

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
        if users.token_version(claims.email) != claims.version:
            raise _unauthorized("token revoked: the password or role changed since it was issued; log in again")
        return user

    def resource_name(name: str) -> str:
        try:
            return check_name(name)
        except ResourceError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None

    def may_upload(user: User, action: str = "publish") -> None:
        """403 unless the user's role may store things (azaion_shared.roles.UPLOAD_ROLES)."""
        if user.role not in UPLOAD_ROLES:
            allowed = ", ".join(sorted(r.value for r in UPLOAD_ROLES))
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not {action}; needs {allowed}")

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        users.list()  # the database answers
        return {"status": "ok"}

    @app.post("/login", response_model=LoginResponse, tags=["auth"])
    def login(body: LoginRequest, request: Request) -> LoginResponse:
        account, address = body.email.strip().lower(), client_address(request)
        wait = max(per_account.retry_after(account), per_address.retry_after(address))
        if wait:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many failed logins; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        try:
            with hashes.slot():  # each argon2 check takes 64 MiB: a bounded number at once
                user = users.authenticate(account, body.password) if "@" in account else None
        except Busy:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "busy checking other logins; retry shortly",
                headers={"Retry-After": "1"},
            ) from None
        if user is None:
            per_account.add(account)
            per_address.add(address)
            raise _unauthorized("wrong email or password")
        per_account.clear(account)
        return LoginResponse(token=issuer.issue(user.email, user.role.value, users.token_version(user.email)))

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
        may_upload(user, "upload")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > store.max_bytes:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"upload over {store.max_bytes} bytes")
        try:
            size = await store.save(name, request.stream())
        except TooLargeError as exc:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
        return Stored(name=name, size=size)

    def signed(body: bytes | None, request: Request, what: str) -> Response:
        """A stored signed document with its ETag; 304 when the client has it already."""
        if body is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}")
        tag = etag(body)
        if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
        return Response(body, media_type="application/json", headers={"ETag": tag})

    async def read_document(request: Request) -> bytes:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"a document over {MAX_DOCUMENT_BYTES} bytes")
        return body

    def stored_or_refused(store_call):
        try:
            return store_call()
        except ConflictError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        except ResourceError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None

    @app.get("/releases", tags=["releases"])
    def list_releases(user: Annotated[User, Depends(current_user)]) -> dict[str, list[int]]:
        """Versions of the stored release manifests."""
        return {"versions": releases.versions()}

    @app.get("/releases/{version}", tags=["releases"], responses={200: {"content": {"application/json": {}}}})
    def get_release(version: int, request: Request, user: Annotated[User, Depends(current_user)]) -> Response:
        """The signed manifest of a release (verify it against the publisher's key); ETag / If-None-Match."""
        return signed(releases.release(version), request, f"release {version}")

    @app.put("/releases/{version}", tags=["releases"], status_code=status.HTTP_201_CREATED)
    async def put_release(
        version: Annotated[int, Path(ge=1)], request: Request, user: Annotated[User, Depends(current_user)]
    ) -> dict[str, int | bool]:
        """Store a signed release manifest (upload roles only); an existing version is never replaced."""
        may_upload(user)
        body = await read_document(request)
        created = stored_or_refused(lambda: releases.put_release(version, body))
        return {"version": version, "created": created}

    @app.delete("/releases/{version}", tags=["releases"])
    def delete_release(version: int, user: Annotated[User, Depends(current_user)]) -> dict[str, int | list[str]]:
        """Prune a release (upload roles only): its manifest and small parts; refused while a channel points
        at it. The trainer deletes the big parts from the CDN."""
        may_upload(user)
        try:
            resources = releases.delete_release(version)
        except ResourceError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except ConflictError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        for resource in resources:
            store.path(f"{resource}.small").unlink(missing_ok=True)
        return {"version": version, "resources": resources}

    @app.get("/parts/{name}", tags=["releases"])
    def part_link(
        name: Annotated[str, Depends(resource_name)], user: Annotated[User, Depends(current_user)]
    ) -> dict[str, str | bool | int]:
        """Where to GET a big part without CDN credentials: a short-lived presigned URL (S3; ``auth`` false),
        or this api's own ``/parts/{name}/content`` (a local-folder CDN; send the bearer token, ``auth`` true).
        Either supports Range requests, so a broken download resumes."""
        try:
            where = app.state.cdn.link(name, options.link_seconds)
        except StorageError as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the CDN does not answer: {exc}") from None
        if where is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no big part {name}")
        if isinstance(where, str):
            return {"url": where, "auth": False, "expires_in": options.link_seconds}
        return {"url": f"/parts/{name}/content", "auth": True, "expires_in": 0}

    @app.get("/parts/{name}/content", tags=["releases"], response_class=FileResponse)
    def part_content(name: Annotated[str, Depends(resource_name)], user: Annotated[User, Depends(current_user)]):
        """A big part of the local-folder CDN, streamed (Range requests resume a broken download)."""
        where = app.state.cdn.link(name, options.link_seconds)
        if where is None or isinstance(where, str):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no big part {name} in a local CDN folder")
        return FileResponse(where, media_type="application/octet-stream")

    @app.get("/channels/{channel}", tags=["releases"], responses={200: {"content": {"application/json": {}}}})
    def get_channel(channel: str, request: Request, user: Annotated[User, Depends(current_user)]) -> Response:
        """The signed pointer of a channel (which release it runs); poll it with If-None-Match."""
        return signed(releases.channel(channel), request, f"channel {channel}")

    @app.put("/channels/{channel}", tags=["releases"])
    async def put_channel(
        channel: str, request: Request, user: Annotated[User, Depends(current_user)]
    ) -> dict[str, str | int]:
        """Move a channel (upload roles only); its sequence must grow (a rollback is a newer pointer)."""
        may_upload(user)
        body = await read_document(request)
        sequence = stored_or_refused(lambda: releases.put_channel(channel, body))
        return {"channel": channel, "sequence": sequence}

    @app.post("/devices/heartbeat", tags=["devices"])
    def heartbeat(body: Heartbeat, user: Annotated[User, Depends(current_user)]) -> dict[str, str]:
        """A device reports what it runs; `python -m api devices list` shows the fleet."""
        seen = devices.report(body.name, user.email, body.version, body.backend, body.fps, body.last_error)
        return {"name": seen.name, "seen_at": seen.seen_at}

    @app.get("/devices", tags=["devices"])
    def list_devices(user: Annotated[User, Depends(current_user)], version: str | None = None) -> list[dict]:
        """Every device's last heartbeat (Admin only); ``?version=N`` for those still running N."""
        if user.role is not Role.ADMIN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only an Admin sees the device inventory")
        return [vars(d) for d in devices.list(version)]

    app.state.users = users
    app.state.cdn = app_cdn  # where the big parts are (tests point it at their own CDN)
    app.state.issuer = issuer
    app.state.roles = [r.value for r in Role]
    return app
