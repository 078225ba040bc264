"""The console's web application: it only assembles. The pages live in ``console.routes.*`` (overview,
data, rejected, runs, and the session), what they share in ``console.deps``. Only an Admin gets in
(``console.deps.admin_session``); every page only reads."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from console import formatting
from console.deps import COOKIE, Console
from console.errors import Unauthorized
from console.routes import data, metrics, overview, rejected, runs, session
from console.settings import ConsoleOptions
from console.sources import Api, Rate
from console.state import Pipeline


def _to_login(request: Request, exc: Unauthorized):
    if request.url.path.endswith(".json"):
        return JSONResponse({"detail": str(exc)}, status_code=401)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


def templates() -> Environment:
    """The pages' templates, with the filters that write figures and times (console.formatting)."""
    found = Environment(loader=PackageLoader("console"), autoescape=select_autoescape(["html"]))
    found.filters.update(figure=formatting.figure, ago=formatting.ago)
    return found


def create_app(options: ConsoleOptions, root: Path, api: Api | None = None) -> FastAPI:
    found = Console(
        options=options,
        pipeline=Pipeline(root, options.models_dir),
        api=api or Api(options.api_url, options.api_ca_bundle, options.timeout, options.api_allow_insecure_http),
        templates=templates(),
        secret=options.session_secret.get_secret_value() if options.session_secret else secrets.token_hex(32),
        rate=Rate(),
        pool=ThreadPoolExecutor(max_workers=4, thread_name_prefix="console-scrape"),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        found.pool.shutdown(wait=False)
        found.api.close()

    app = FastAPI(title="Azaion console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_exception_handler(Unauthorized, _to_login)
    for module in (session, overview, rejected, runs, data, metrics):
        app.include_router(module.router)
    app.state.console = found
    app.state.pipeline, app.state.api = found.pipeline, found.api
    return app
