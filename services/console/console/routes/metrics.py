"""A service's Prometheus metrics, read by the console and shown on its own page: the services' /metrics
ports are on the server's private network, which a browser behind an SSH tunnel cannot reach."""

import time

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from console.deps import ConsoleDep, Session
from console.sources import scrape

router = APIRouter()
#: the runtime's own samples (the client library's), left out unless asked for: they bury the service's
RUNTIME = ("python_", "process_")


@router.get("/metrics/{service}", response_class=HTMLResponse)
def metrics(service: str, user: Session, found: ConsoleDep, everything: int = 0) -> HTMLResponse:
    url = found.options.metrics.get(service)
    if url is None:
        return found.page("missing.html", 404, user=user, what=f"metrics of a service named {service}")
    scraped = scrape(service, url, found.options.timeout)
    samples = sorted(
        (name, value) for name, value in scraped.values.items() if everything or not name.startswith(RUNTIME)
    )
    return found.page(
        "metrics.html",
        user=user,
        service=service,
        url=url,
        scraped=scraped,
        samples=samples,
        everything=everything,
        read_at=time.time(),
    )
