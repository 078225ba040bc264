"""Prometheus metrics and a /healthz endpoint, on one small HTTP server in a thread."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.applied = Counter(
            "ingestor_messages_applied", "Messages applied to the data root", ["status"], registry=self.registry
        )
        self.rejected = Counter(
            "ingestor_messages_rejected", "Messages written to data-rejected/", registry=self.registry
        )
        self.offset = Gauge("ingestor_offset", "Last stream offset whose effects are durable", registry=self.registry)
        self.lag = Gauge(
            "ingestor_lag_messages", "Offsets between the stream's end and the checkpoint", registry=self.registry
        )
        self.connected = Gauge("ingestor_connected", "1 while subscribed to the stream", registry=self.registry)
        self.reconnects = Counter(
            "ingestor_reconnects", "Sessions ended by a disconnect or watchdog", registry=self.registry
        )
        self.batch_seconds = Histogram(
            "ingestor_batch_seconds", "Time to apply and commit one batch", registry=self.registry
        )


class Health:
    """The service calls :meth:`beat` from its event loop; a stuck loop stops the beats."""

    def __init__(self, stale_after: float):
        self.stale_after = stale_after
        self.state = "starting"
        self._last = time.monotonic()

    def beat(self, state: str | None = None) -> None:
        self._last = time.monotonic()
        if state:
            self.state = state

    def report(self) -> tuple[bool, dict]:
        age = time.monotonic() - self._last
        ok = age < self.stale_after
        return ok, {"status": "ok" if ok else "stuck", "state": self.state, "seconds_since_beat": round(age, 1)}


def serve(port: int, metrics: Metrics, health: Health, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, status, kind = generate_latest(metrics.registry), 200, CONTENT_TYPE_LATEST
            elif self.path == "/healthz":
                ok, report = health.report()
                body, status, kind = json.dumps(report).encode(), 200 if ok else 503, "application/json"
            else:
                body, status, kind = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            return None

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="ingestor-health", daemon=True).start()
    return server
