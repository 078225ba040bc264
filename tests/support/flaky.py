"""A TCP proxy on loopback that misbehaves on purpose, in front of a real server."""

from __future__ import annotations

import contextlib
import socket
import threading


class FlakyProxy:
    """Forwards to ``target_port``; the first ``drop`` connections are closed without an answer,
    and the next ``fail`` requests get an HTTP 500 (``status``) from the proxy itself."""

    def __init__(self, target_port: int, drop: int = 0, fail: int = 0, status: int = 500):
        self.target_port = target_port
        self.drop, self.fail, self.status = drop, fail, status
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                if self.drop > 0:
                    self.drop -= 1
                    client.close()  # a dropped connection: no status line at all
                    continue
                failing = self.fail > 0
                if failing:
                    self.fail -= 1
            if failing:
                threading.Thread(target=self._answer_error, args=(client,), daemon=True).start()
            else:
                threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _answer_error(self, client: socket.socket) -> None:
        with client:
            client.recv(65536)
            body = b'{"detail":"injected failure"}'
            client.sendall(
                f"HTTP/1.1 {self.status} Injected\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )

    def _forward(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)


def pipe(src: socket.socket, dst: socket.socket) -> None:
    """Copy ``src`` to ``dst`` until either side closes, then shut both down."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
