"""Log in (Admins only, with their api credentials), log out, and the health check."""

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from azaion_shared.roles import Role
from console.deps import COOKIE, ConsoleDep
from console.errors import ApiUnreachable

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/login", response_class=HTMLResponse)
def login_form(found: ConsoleDep) -> HTMLResponse:
    return found.page("login.html")


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, found: ConsoleDep) -> Response:
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    email, password = form.get("email", "").strip(), form.get("password", "")
    try:
        token, role = found.api.login(email, password)
    except ApiUnreachable as exc:
        return found.page("login.html", 503, error=str(exc), email=email)
    if token is None:
        return found.page("login.html", 401, error=role, email=email)
    if role != Role.ADMIN.value:
        return found.page(
            "login.html", 403, error=f"{email} is a {role}: only an Admin may use the console", email=email
        )
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        found.session_cookie(email, role, token),
        max_age=found.options.session_minutes * 60,
        httponly=True,
        samesite="strict",
        secure=found.options.secure_cookie,
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
