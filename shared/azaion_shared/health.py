"""A /healthz and /metrics endpoint for a service, on one small HTTP server in a thread.

The service calls :meth:`Health.beat` from its main loop; when the beats stop
(a stuck loop), /healthz answers 503 and a compose healthcheck restarts it.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Health:
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


def serve(port: int, registry, health: Health, host: str = "0.0.0.0", name: str = "health") -> ThreadingHTTPServer:
    """Serve ``/healthz`` (JSON) and ``/metrics`` (Prometheus text of ``registry``)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, status, kind = generate_latest(registry), 200, CONTENT_TYPE_LATEST
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
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server
