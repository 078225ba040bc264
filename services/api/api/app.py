"""The FastAPI application: it only assembles. The routes live in ``api.routes.*`` (one module per
resource), what they share in ``api.deps``, and the JSON shapes and paths in
``azaion_shared.http_contract`` (the api and its clients read the same definitions)."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from datetime import timedelta

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from api.deps import Services
from api.devices import DeviceStore
from api.resources import ResourceStore
from api.routes import auth, devices, parts, releases, resources
from api.settings import ApiSettings
from api.throttle import HashGate, SlidingWindow
from api.tokens import TokenIssuer
from api.users import UserStore
from azaion_shared.cdn import storage_from_settings
from azaion_shared.roles import Role

log = logging.getLogger(__name__)


def build_services(settings: ApiSettings, users: UserStore | None = None) -> Services:
    options = settings.api
    return Services(
        options=options,
        users=users or UserStore(settings.db_file()),
        issuer=TokenIssuer(settings.jwt_secret(), timedelta(minutes=options.token_minutes)),
        resources=ResourceStore(settings.resources_folder(), options.max_upload_mb * 1024 * 1024),
        trust=settings.trust_store(),
        devices=DeviceStore(settings.db_file()),
        per_account=SlidingWindow(options.login_failures_per_account, options.login_window_seconds),
        per_address=SlidingWindow(options.login_failures_per_address, options.login_window_seconds),
        hashes=HashGate(options.concurrent_logins),
    )


async def _unprocessable(request: Request, exc: RequestValidationError) -> Response:
    """422 with the problems; ASCII-escaped, since the input echoed back may not be text at all."""
    body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True, default=str)
    return Response(body, status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json")


@contextlib.asynccontextmanager
async def _resigning(app: FastAPI):
    """While the app serves: re-sign the fleet's snapshot and timestamp before they expire (a thread)."""
    trust, stop = app.state.services.trust, threading.Event()
    period = min(60.0, trust.expiry_hours * 3600 / 8)

    def loop() -> None:
        while not stop.wait(period):
            try:
                trust.resign_if_due()
            except Exception:  # never let it die: the next round tries again, devices see the age meanwhile
                log.exception("re-signing the fleet's timestamp failed")

    thread = threading.Thread(target=loop, name="tuf-resign", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def create_app(settings: ApiSettings, users: UserStore | None = None) -> FastAPI:
    """Build the app from settings (nothing happens at import time)."""
    docs = settings.docs_enabled()
    app = FastAPI(
        lifespan=_resigning,
        title="Azaion API",
        version="0.1.0",
        description="JWT login, the small parts of protected models, the fleet's TUF metadata, devices.",
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.add_exception_handler(RequestValidationError, _unprocessable)
    for module in (auth, resources, releases, parts, devices):
        app.include_router(module.router)
    found = build_services(settings, users)
    app.state.services = found
    app.state.users = found.users
    app.state.issuer = found.issuer
    app.state.cdn = storage_from_settings(settings.cdn, settings.root)  # tests point it at their own CDN
    app.state.roles = [r.value for r in Role]
    return app
