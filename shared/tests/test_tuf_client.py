"""The fleet's TUF client without a network: where it refuses to judge, and what a cache holds."""

from __future__ import annotations

import json
import time

import pytest

from azaion_shared.errors import StaleMetadataError
from azaion_shared.tuf_client import CLOCK_SLACK_SECONDS, Fetcher, TrustClient


def test_a_device_whose_clock_went_back_does_not_judge_expiry(tmp_path):
    """A board without a real-time clock boots at 1970 until NTP answers: every expiry would look far away.
    The client remembers when it last confirmed the metadata fresh and refuses while the clock reads
    earlier than that, before it asks the network anything."""
    clock = tmp_path / "confirmed.json"
    client = TrustClient(
        tmp_path / "metadata", "http://127.0.0.1:9/", "http://127.0.0.1:9/", Fetcher(), clock_file=clock
    )
    clock.write_text(json.dumps({"at": time.time() + CLOCK_SLACK_SECONDS + 3600}))  # confirmed "in the future"
    with pytest.raises(StaleMetadataError, match="set the clock"):
        client.refresh()
    assert client.last_confirmed() > time.time()
    clock.write_text(json.dumps({"at": time.time() - 60}))  # a clock that moved forward is fine
    with pytest.raises(Exception) as raised:
        client.refresh()
    assert not isinstance(raised.value, StaleMetadataError)


def test_without_a_clock_file_nothing_is_remembered(tmp_path):
    client = TrustClient(tmp_path / "metadata", "http://x/", "http://x/", Fetcher())
    client.confirmed(time.time())
    assert client.last_confirmed() is None and not list(tmp_path.rglob("*.json"))


def test_a_server_that_trickles_bytes_is_given_up_on(tmp_path):
    """TUF's slow-retrieval attack: one byte at a time never trips a read timeout; the whole file must
    arrive within the fetcher's deadline."""
    import http.server
    import threading

    from tuf.api.exceptions import SlowRetrievalError

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "16000")
            self.end_headers()
            try:
                for _ in range(16000):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    started = time.monotonic()
    try:
        with pytest.raises(SlowRetrievalError, match="not whole after 1 s"):
            list(Fetcher(timeout=5.0, deadline=1.0).fetch(url + "timestamp.json"))
    finally:
        server.shutdown()
    assert time.monotonic() - started < 5
