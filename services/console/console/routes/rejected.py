"""Rejected stream messages: the list with each reason, and the raw bytes of one."""

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from console.deps import ConsoleDep, Session

router = APIRouter()


@router.get("/rejected", response_class=HTMLResponse)
def rejected(user: Session, found: ConsoleDep) -> HTMLResponse:
    return found.page("rejected.html", user=user, items=found.pipeline.rejected(), now=datetime.fromtimestamp)


@router.get("/rejected/{stem}.bin")
def rejected_raw(stem: str, user: Session, found: ConsoleDep) -> Response:
    path = found.pipeline.rejected_raw(stem)
    if path is None:
        return found.page("missing.html", 404, what=f"rejected message {stem}")
    return Response(
        path.read_bytes(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{stem}.bin"'},
    )
