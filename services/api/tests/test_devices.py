"""The device inventory: heartbeats through the real api, listed by the operator's command."""

from __future__ import annotations

import httpx

from azaion_shared.api_client import ApiClient, RetryPolicy

PASSWORD = "correct horse battery"


def test_heartbeats_answer_which_devices_still_run_a_version(api_server, monkeypatch, capsys):
    from api.__main__ import main

    api_server.add_user("edge@x.io", PASSWORD, "Device")
    api_server.add_user("admin@x.io", PASSWORD, "Admin")
    reports = [("orangepi-7", "6", "rknn", 11.5, None), ("jetson-2", "7", "tensorrt", 29.0, None)]
    reports.append(("jetson-2", "7", "tensorrt", 28.5, "source lost for 2 s"))  # a later beat replaces it
    with ApiClient(api_server.url, "edge@x.io", PASSWORD, retry=RetryPolicy(attempts=1), timeout=5) as api:
        for name, version, backend, fps, error in reports:
            api.heartbeat(name, version, backend, fps, error)
    monkeypatch.setenv("AZAION_ENV", "test")
    monkeypatch.setenv("AZAION_ROOT", str(api_server.root))
    assert main(["devices", "list", "--version", "6"]) == 0
    out = capsys.readouterr().out
    assert "orangepi-7\t6\trknn\t11.5" in out and "jetson-2" not in out and "1 device(s) running version 6" in out
    assert main(["devices", "list"]) == 0
    out = capsys.readouterr().out
    assert "jetson-2\t7\ttensorrt\t28.5" in out and "source lost for 2 s" in out and "2 device(s)" in out
    assert "edge@x.io" in out  # who reported it

    def token(email: str) -> dict:
        answer = httpx.post(f"{api_server.url}/login", json={"email": email, "password": PASSWORD})
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    listed = httpx.get(f"{api_server.url}/devices", params={"version": "7"}, headers=token("admin@x.io"))
    assert [d["name"] for d in listed.json()] == ["jetson-2"]
    assert httpx.get(f"{api_server.url}/devices", headers=token("edge@x.io")).status_code == 403
    bad = httpx.post(f"{api_server.url}/devices/heartbeat", json={"name": "../x"}, headers=token("edge@x.io"))
    assert bad.status_code == 422
    assert httpx.post(f"{api_server.url}/devices/heartbeat", json={"name": "a"}).status_code == 401


def test_a_device_speaks_only_for_itself_and_only_device_accounts_report(api_server, monkeypatch, capsys):
    from api.__main__ import main

    for email, role in (("edge-a@x.io", "Device"), ("edge-b@x.io", "Device"), ("op@x.io", "Operator")):
        api_server.add_user(email, PASSWORD, role)

    def beat(email: str, name: str, **extra) -> httpx.Response:
        token = httpx.post(f"{api_server.url}/login", json={"email": email, "password": PASSWORD}).json()["token"]
        body = {"name": name, "version": "3"} | extra
        return httpx.post(
            f"{api_server.url}/devices/heartbeat", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    assert beat("edge-a@x.io", "jetson-1").status_code == 200
    impersonated = beat("edge-b@x.io", "jetson-1", version="1", last_error=None)
    assert impersonated.status_code == 403 and "edge-a@x.io" in impersonated.json()["detail"]
    operator = beat("op@x.io", "jetson-9")
    assert operator.status_code == 403 and "only Device accounts" in operator.json()["detail"]
    monkeypatch.setenv("AZAION_ENV", "test")
    monkeypatch.setenv("AZAION_ROOT", str(api_server.root))
    assert main(["devices", "list"]) == 0
    out = capsys.readouterr().out
    assert "jetson-1\t3\t" in out and "edge-b" not in out and "jetson-9" not in out  # the row is untouched
    assert "STALE: metadata not confirmed fresh yet" in out

    fresh = "2026-01-01T00:00:00+00:00"
    assert beat("edge-a@x.io", "jetson-1", confirmed_at=fresh).status_code == 200
    assert main(["devices", "list"]) == 0
    assert "STALE: metadata not confirmed fresh for" in capsys.readouterr().out  # long ago: a frozen api
    from datetime import UTC, datetime

    now = datetime.now(UTC).isoformat(timespec="seconds")
    assert beat("edge-a@x.io", "jetson-1", confirmed_at=now).status_code == 200
    assert main(["devices", "list"]) == 0
    assert "\tok\t" in capsys.readouterr().out

    assert main(["devices", "forget", "jetson-1"]) == 0  # an Admin frees the name for a re-provisioned board
    assert beat("edge-b@x.io", "jetson-1").status_code == 200
