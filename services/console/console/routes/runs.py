"""A training run: its curves, ultralytics' plots, the gate's decision and the dataset."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from console.charts import line_chart
from console.deps import ConsoleDep, Session
from console.state import CHARTS

router = APIRouter()


@router.get("/runs/{name}", response_class=HTMLResponse)
def run_page(name: str, user: Session, found: ConsoleDep) -> HTMLResponse:
    pipeline = found.pipeline
    run = pipeline.run(name)
    if run is None:
        return found.page("missing.html", 404, user=user, what=f"training run {name}")
    epochs = run.columns.get("epoch", [])
    charts = [
        Markup(line_chart(title, epochs, {c: run.columns[c] for c in columns if c in run.columns}))
        for title, columns in CHARTS.items()
    ]
    histogram = run.histogram or {}
    classes = sorted({c for split in histogram.values() for c in split}, key=lambda c: int(c))
    return found.page(
        "run.html",
        user=user,
        run=run,
        charts=charts,
        classes=classes,
        names=pipeline.class_names(name),
        artifacts=pipeline.artifacts() if run.promoted else [],
    )


@router.get("/runs/{name}/files/{file}")
def run_file(name: str, file: str, user: Session, found: ConsoleDep) -> Response:
    run = found.pipeline.run(name)
    if run is None or file not in run.plots():
        return found.page("missing.html", 404, what=f"{name}/{file}")
    return Response((run.path / file).read_bytes(), media_type="image/png")
