"""The console's web application: FastAPI routes rendering Jinja2 templates.

Only an Admin gets in: the console logs the user in at the api with their own credentials, checks the
role the api gives them, and keeps the api's token inside its own signed session (a JWT signed with
the console's secret) in an HttpOnly, SameSite=Strict cookie. Every page only reads.
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from azaion_shared.roles import Role
from console.charts import line_chart
from console.errors import ApiUnreachable, Unauthorized
from console.images import thumbnail
from console.settings import ConsoleOptions
from console.sources import Api, Rate, scrape
from console.state import CHARTS, FOLDERS, Pipeline

COOKIE = "azaion_console"
VARIANTS = 7


def create_app(options: ConsoleOptions, root: Path, api: Api | None = None) -> FastAPI:
    app = FastAPI(title="Azaion console", docs_url=None, redoc_url=None, openapi_url=None)
    pipeline = Pipeline(root)
    api = api or Api(options.api_url, options.api_ca_bundle, options.timeout)
    secret = options.session_secret.get_secret_value() if options.session_secret else secrets.token_hex(32)
    templates = Environment(loader=PackageLoader("console"), autoescape=select_autoescape(["html"]))
    rate = Rate()
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="console-scrape")
    app.state.pipeline, app.state.api = pipeline, api

    def page(template: str, status: int = 200, **values) -> HTMLResponse:
        body = templates.get_template(template).render(refresh=options.refresh_seconds, **values)
        return HTMLResponse(body, status_code=status)

    # --- sessions ---------------------------------------------------------------------------------
    def session(request: Request) -> dict:
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            raise Unauthorized("not logged in")
        try:
            found = jwt.decode(cookie, secret, algorithms=["HS256"], options={"require": ["exp", "sub", "role"]})
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"session: {exc}") from None
        if found.get("role") != Role.ADMIN.value:
            raise Unauthorized("only an Admin may use the console")
        return found

    @app.exception_handler(Unauthorized)
    def _to_login(request: Request, exc: Unauthorized):
        if request.url.path.endswith(".json"):
            return JSONResponse({"detail": str(exc)}, status_code=401)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/login", response_class=HTMLResponse)
    def login_form() -> HTMLResponse:
        return page("login.html")

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        email, password = form.get("email", "").strip(), form.get("password", "")
        try:
            token, role = api.login(email, password)
        except ApiUnreachable as exc:
            return page("login.html", 503, error=str(exc), email=email)
        if token is None:
            return page("login.html", 401, error=f"login refused: {role}", email=email)
        if role != Role.ADMIN.value:
            return page("login.html", 403, error=f"{email} is a {role}: only an Admin may use the console", email=email)
        expires = datetime.now(UTC) + timedelta(minutes=options.session_minutes)
        cookie = jwt.encode({"sub": email, "role": role, "api": token, "exp": expires}, secret, algorithm="HS256")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=options.session_minutes * 60,
            httponly=True,
            samesite="strict",
            secure=options.secure_cookie,
        )
        return response

    @app.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    # --- the overview -----------------------------------------------------------------------------
    def overview(user: dict) -> dict:
        started = time.perf_counter()
        scrapes = dict(
            zip(
                options.metrics,
                pool.map(lambda item: scrape(*item, options.timeout), options.metrics.items()),
                strict=True,
            )
        )
        ingestor, augmentor = scrapes.get("ingestor"), scrapes.get("augmentor")
        values = dict.fromkeys(("offset", "lag", "applied", "rejected_total", "connected", "rate"))
        if ingestor is not None and ingestor.alive:
            values = {
                "offset": ingestor.value("ingestor_offset"),
                "lag": ingestor.value("ingestor_lag_messages"),
                "applied": ingestor.value("ingestor_messages_applied_total"),
                "rejected_total": ingestor.value("ingestor_messages_rejected_total"),
                "connected": ingestor.value("ingestor_connected"),
                "rate": rate.update(ingestor.value("ingestor_messages_applied_total")),
            }
        problems = [f"{s.service} metrics unreachable: {'; '.join(s.errors)}" for s in scrapes.values() if s.errors]
        devices, releases = [], []
        try:
            devices = api.get("/devices", user["api"])
            releases = api.get("/releases", user["api"]).get("versions", [])
        except (ApiUnreachable, PermissionError) as exc:
            problems.append(str(exc))
        except Exception as exc:
            problems.append(f"the api: {exc}")
        return {
            "counts": pipeline.counts(),
            "ingestor": values,
            "augmentor": {
                "replicas": augmentor.alive if augmentor else None,
                "queue": augmentor.value("augmentor_queue_depth") if augmentor and augmentor.alive else None,
            },
            "metrics": {name: s.url for name, s in scrapes.items()},
            "runs": [r.summary() for r in pipeline.runs(10)],
            "current": pipeline.current_run(),
            "artifacts": pipeline.artifacts(),
            "releases": releases,
            "devices": devices,
            "problems": problems,
            "seconds": round(time.perf_counter() - started, 3),
        }

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, fragment: int = 0) -> HTMLResponse:
        user = session(request)
        found = overview(user)
        return page("overview_fragment.html" if fragment else "overview.html", user=user, o=found)

    @app.get("/overview.json")
    def overview_json(request: Request) -> dict:
        return overview(session(request))

    # --- rejected messages ------------------------------------------------------------------------
    @app.get("/rejected", response_class=HTMLResponse)
    def rejected(request: Request) -> HTMLResponse:
        user = session(request)
        return page("rejected.html", user=user, items=pipeline.rejected(), now=datetime.fromtimestamp)

    @app.get("/rejected/{stem}.bin")
    def rejected_raw(stem: str, request: Request) -> Response:
        session(request)
        path = pipeline.rejected_raw(stem)
        if path is None:
            return page("missing.html", 404, what=f"rejected message {stem}")
        return Response(
            path.read_bytes(),
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{stem}.bin"'},
        )

    # --- a training run ---------------------------------------------------------------------------
    @app.get("/runs/{name}", response_class=HTMLResponse)
    def run_page(name: str, request: Request) -> HTMLResponse:
        user = session(request)
        run = pipeline.run(name)
        if run is None:
            return page("missing.html", 404, user=user, what=f"training run {name}")
        epochs = run.columns.get("epoch", [])
        charts = [
            Markup(line_chart(title, epochs, {c: run.columns[c] for c in columns if c in run.columns}))
            for title, columns in CHARTS.items()
        ]
        histogram = run.histogram or {}
        classes = sorted({c for split in histogram.values() for c in split}, key=lambda c: int(c))
        return page(
            "run.html",
            user=user,
            run=run,
            charts=charts,
            classes=classes,
            names=pipeline.class_names(name),
            artifacts=pipeline.artifacts() if run.promoted else [],
        )

    @app.get("/runs/{name}/files/{file}")
    def run_file(name: str, file: str, request: Request) -> Response:
        session(request)
        run = pipeline.run(name)
        if run is None or file not in run.plots():
            return page("missing.html", 404, what=f"{name}/{file}")
        return Response((run.path / file).read_bytes(), media_type="image/png")

    # --- the data browser -------------------------------------------------------------------------
    @app.get("/data", response_class=HTMLResponse)
    def data(request: Request, folder: str = "data", cls: str = "", q: str = "", page_no: int = 1) -> HTMLResponse:
        user = session(request)
        if folder not in FOLDERS:
            return page("missing.html", 404, user=user, what=f"folder {folder}")
        names = sorted(pipeline.names(folder))
        if q:
            names = [n for n in names if q.lower() in n.lower()]
        if cls.strip():
            wanted = int(cls) if cls.strip().isdigit() else None
            names = [n for n in names if any(b.class_id == wanted for b in pipeline.labels(folder, n))]
        size = options.page_size
        pages = max(1, -(-len(names) // size))
        page_no = min(max(1, page_no), pages)
        shown = names[(page_no - 1) * size : page_no * size]

        def link(number: int) -> str:
            return "/data?" + urlencode({"folder": folder, "cls": cls, "q": q, "page_no": number})

        return page(
            "data.html",
            user=user,
            folder=folder,
            folders=list(FOLDERS),
            cls=cls,
            q=q,
            names=shown,
            total=len(names),
            page_no=page_no,
            pages=pages,
            previous=link(page_no - 1) if page_no > 1 else None,
            next=link(page_no + 1) if page_no < pages else None,
        )

    @app.get("/thumb/{folder}/{name}.jpg")
    def thumb(folder: str, name: str, request: Request) -> Response:
        session(request)
        if folder not in FOLDERS or name not in pipeline.names(folder):
            return page("missing.html", 404, what=f"{folder}/{name}")
        jpeg = thumbnail(pipeline.folder(folder).image(name), pipeline.labels(folder, name), pipeline.class_names())
        if jpeg is None:
            return page("missing.html", 404, what=f"a readable image {folder}/{name}")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})

    @app.get("/annotation/{name}", response_class=HTMLResponse)
    def annotation(name: str, request: Request) -> HTMLResponse:
        user = session(request)
        processed = pipeline.names("data-processed")
        variants = [f"{name}+{i}" for i in range(1, VARIANTS + 1) if f"{name}+{i}" in processed]
        where = next((f for f in ("data", "data-seed", "data_deleted") if name in pipeline.names(f)), None)
        if where is None and name not in processed:
            return page("missing.html", 404, user=user, what=f"annotation {name}")
        return page("annotation.html", user=user, name=name, where=where, original=name in processed, variants=variants)

    @app.on_event("shutdown")
    def _close() -> None:
        pool.shutdown(wait=False)
        api.close()

    return app
