from __future__ import annotations

from azaion_shared.healthcheck import main


def test_healthcheck_passes_on_200_and_fails_otherwise(api_server):
    assert main([f"{api_server.url}/healthz"]) == 0
    assert main([f"{api_server.url}/no-such-page"]) == 1
    assert main(["http://127.0.0.1:9/healthz"]) == 1
