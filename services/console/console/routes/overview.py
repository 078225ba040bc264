"""The overview: the stream, the annotations, augmentation, training, releases and devices on one page."""

import time

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from console.deps import Console, ConsoleDep, Session
from console.errors import ApiUnreachable
from console.sources import scrape

router = APIRouter()


def _ingestor(found: Console, scraped) -> dict:
    if scraped is None or not scraped.alive:
        return dict.fromkeys(("offset", "lag", "applied", "rejected_total", "connected", "rate"))
    return {
        "offset": scraped.value("ingestor_offset"),
        "lag": scraped.value("ingestor_lag_messages"),
        "applied": scraped.value("ingestor_messages_applied_total"),
        "rejected_total": scraped.value("ingestor_messages_rejected_total"),
        "connected": scraped.value("ingestor_connected"),
        "rate": found.rate.update(scraped.value("ingestor_messages_applied_total")),
    }


def overview(found: Console, user: dict) -> dict:
    started = time.perf_counter()
    metrics = found.options.metrics
    scraped = dict(
        zip(metrics, found.pool.map(lambda item: scrape(*item, found.options.timeout), metrics.items()), strict=True)
    )
    augmentor = scraped.get("augmentor")
    problems = [f"{s.service} metrics unreachable: {'; '.join(s.errors)}" for s in scraped.values() if s.errors]
    devices, releases = [], {"versions": [], "channels": [], "expires": None}
    try:
        devices = found.api.devices(user["sub"], user["api"])
        releases = found.api.releases(user["sub"], user["api"])
    except (ApiUnreachable, PermissionError) as exc:
        problems.append(str(exc))
    pipeline = found.pipeline
    return {
        "counts": pipeline.counts(),
        "ingestor": _ingestor(found, scraped.get("ingestor")),
        "augmentor": {
            "replicas": augmentor.alive if augmentor else None,
            "queue": augmentor.value("augmentor_queue_depth") if augmentor and augmentor.alive else None,
        },
        "metrics": {name: s.url for name, s in scraped.items()},
        "runs": [r.summary() for r in pipeline.runs(10)],
        "current": pipeline.current_run(),
        "artifacts": pipeline.artifacts(),
        "releases": releases["versions"],
        "channels": releases["channels"],
        "signed_until": releases["expires"],
        "devices": devices,
        "stale": sum(1 for d in devices if d.get("stale")),
        "problems": problems,
        "seconds": round(time.perf_counter() - started, 3),
        "read_at": time.time(),
    }


@router.get("/", response_class=HTMLResponse)
def index(user: Session, found: ConsoleDep, fragment: int = 0) -> HTMLResponse:
    return found.page("overview_fragment.html" if fragment else "overview.html", user=user, o=overview(found, user))


@router.get("/overview.json")
def overview_json(user: Session, found: ConsoleDep) -> dict:
    return overview(found, user)
