"""A TLS-terminating proxy on loopback in front of a plain server (moto's S3): HTTPS with our own
certificate, the way MinIO serves it in compose."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path

from flaky import pipe


class TlsProxy:
    def __init__(self, target_port: int, cert: Path, key: Path):
        self.target_port = target_port
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(str(cert), str(key))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.handshakes_failed = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshakes_failed += 1  # the client did not trust us, or spoke plain HTTP
            with contextlib.suppress(OSError):
                raw.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)
