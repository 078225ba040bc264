"""The api as an attacker meets it (real uvicorn on loopback): login limits, bounded hashing, revocation,
production defaults, file modes, malformed bodies."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time

import httpx
import pytest

from conftest import TEST_JWT_SECRET, UvicornThread, free_port

PASSWORD = "correct horse battery"


def make_server(tmp_path, monkeypatch, env: str = "test", **api):
    from api.app import create_app
    from api.settings import ApiSettings
    from azaion_shared.settings import load_settings

    monkeypatch.setenv("AZAION_ENV", env)
    monkeypatch.setenv("AZAION_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("AZAION_API__JWT_SECRET", TEST_JWT_SECRET)
    for key, value in api.items():
        monkeypatch.setenv(f"AZAION_API__{key.upper()}", value)
    app = create_app(load_settings(ApiSettings))
    return app, UvicornThread(app)


def login(url: str, email: str, password: str = PASSWORD, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{url}/login", json={"email": email, "password": password}, headers=headers, timeout=30)


def test_brute_force_on_one_account_gets_429_even_with_the_right_password(tmp_path, monkeypatch):
    from azaion_shared.roles import Role

    app, server = make_server(tmp_path, monkeypatch, login_failures_per_account="5")
    app.state.users.add("dev@x.io", PASSWORD, Role.DEVICE)
    app.state.users.add("other@x.io", PASSWORD, Role.DEVICE)
    with server:
        answers = [login(server.url, "dev@x.io", f"guess-{i}").status_code for i in range(5)]
        assert answers == [401] * 5
        blocked = login(server.url, "DEV@x.io")  # the right password, the same account in other letters
        assert blocked.status_code == 429 and 1 <= int(blocked.headers["Retry-After"]) <= 300
        assert login(server.url, "other@x.io").status_code == 200  # another account is not locked out


def test_per_address_limit_and_trusted_proxies(tmp_path, monkeypatch):
    _app, server = make_server(tmp_path, monkeypatch, login_failures_per_address="3", trusted_proxies='["127.0.0.1"]')
    with server:
        behind = {"X-Forwarded-For": "203.0.113.7"}
        assert [login(server.url, f"u{i}@x.io", headers=behind).status_code for i in range(3)] == [401] * 3
        assert login(server.url, "u9@x.io", headers=behind).status_code == 429  # that client, any account
        other = {"X-Forwarded-For": "198.51.100.2, 203.0.113.7"}  # spoofed first hop; the proxy saw .7
        assert login(server.url, "u9@x.io", headers=other).status_code == 429
        assert login(server.url, "u9@x.io", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 401


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(tmp_path, monkeypatch):
    _app, server = make_server(tmp_path, monkeypatch, login_failures_per_address="2")
    with server:
        for i in range(2):
            assert login(server.url, f"u{i}@x.io", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code == 401
        assert login(server.url, "u5@x.io", headers={"X-Forwarded-For": "10.0.0.9"}).status_code == 429


def _peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        lines = fh.read().splitlines()
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_concurrent_logins_stay_within_the_memory_bound(tmp_path):
    """16 logins at once against a server allowing 2 hashes at a time: its peak memory grows by about
    two argon2 hashes (64 MiB each), not sixteen; the rest are told to retry (503) or wait."""
    port = free_port()
    env = {
        **os.environ,
        "AZAION_ENV": "test",
        "AZAION_ROOT": str(tmp_path / "root"),
        "AZAION_API__JWT_SECRET": TEST_JWT_SECRET,
        "AZAION_API__CONCURRENT_LOGINS": "2",
        "AZAION_API__LOGIN_FAILURES_PER_ADDRESS": "1000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the api did not start"
            time.sleep(0.1)
        assert login(url, "warm@x.io").status_code == 401  # one hash: the allocator's first 64 MiB
        before = _peak_rss_mib(proc.pid)
        answers: list[httpx.Response] = []
        start = threading.Barrier(16)

        def attempt(i: int) -> None:
            start.wait()
            answers.append(login(url, f"user{i}@x.io"))

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        grown = _peak_rss_mib(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(20)
    assert sorted({a.status_code for a in answers}) <= [401, 503] and len(answers) == 16
    assert all(a.headers.get("Retry-After") == "1" for a in answers if a.status_code == 503)
    assert grown < 2 * 64 + 48, f"peak memory grew by {grown:.0f} MiB for 16 concurrent logins"


def test_tokens_issued_before_passwd_role_change_or_removal_are_refused(tmp_path, monkeypatch):
    from azaion_shared.roles import Role

    app, server = make_server(tmp_path, monkeypatch)
    users = app.state.users
    users.add("dev@x.io", PASSWORD, Role.DEVICE)
    with server:

        def fetch(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            return httpx.get(f"{server.url}/resources/none.small", headers=headers).status_code

        first = login(server.url, "dev@x.io").json()["token"]
        assert fetch(first) == 404  # accepted (there is no such resource)
        users.set_password("dev@x.io", "a brand new password")
        assert fetch(first) == 401
        assert login(server.url, "dev@x.io").status_code == 401
        second = login(server.url, "dev@x.io", "a brand new password").json()["token"]
        assert fetch(second) == 404
        users.set_role("dev@x.io", Role.ADMIN)
        assert fetch(second) == 401
        third = login(server.url, "dev@x.io", "a brand new password").json()["token"]
        users.remove("dev@x.io")
        users.add("dev@x.io", "a brand new password", Role.ADMIN)  # the old way to change a password
        assert fetch(third) == 401


def test_users_passwd_and_role_commands(tmp_path, monkeypatch, capsys):
    import io

    from api.__main__ import main
    from api.users import UserStore
    from azaion_shared.roles import Role

    monkeypatch.setenv("AZAION_ENV", "test")
    monkeypatch.setenv("AZAION_ROOT", str(tmp_path))
    store = UserStore(tmp_path / "api" / "users.sqlite3")
    store.add("dev@x.io", PASSWORD, Role.DEVICE)
    version = store.token_version("dev@x.io")
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert main(["users", "passwd", "dev@x.io", "--password-stdin"]) == 0
    assert store.authenticate("dev@x.io", "another long password") is not None
    assert store.token_version("dev@x.io") != version
    assert main(["users", "role", "dev@x.io", "Validator"]) == 0
    assert store.get("dev@x.io").role is Role.VALIDATOR
    assert main(["users", "role", "nobody@x.io", "Admin"]) == 2
    assert "no user nobody@x.io" in capsys.readouterr().err


def test_production_hides_the_api_docs(tmp_path, monkeypatch):
    _app, server = make_server(tmp_path, monkeypatch, env="production")
    with server:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert httpx.get(f"{server.url}{path}").status_code == 404
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    _app, server = make_server(tmp_path, monkeypatch, env="production", docs="true")
    with server:
        assert httpx.get(f"{server.url}/docs").status_code == 200


def test_secrets_and_parts_are_private_whatever_the_umask(tmp_path, monkeypatch):
    from azaion_shared.roles import Role

    old = os.umask(0o022)
    try:
        app, server = make_server(tmp_path, monkeypatch)
        app.state.users.add("up@x.io", PASSWORD, Role.RESOURCE_UPLOADER)
        with server:
            token = login(server.url, "up@x.io").json()["token"]
            response = httpx.put(
                f"{server.url}/resources/azaion.onnx.small",
                content=b"\x01" * 100,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200
    finally:
        os.umask(old)
    api_folder = tmp_path / "root" / "api"

    def mode(path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(api_folder) == 0o700 and mode(api_folder / "resources") == 0o700
    assert mode(api_folder / "users.sqlite3") == 0o600
    assert mode(api_folder / "resources" / "azaion.onnx.small") == 0o600


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "\\ud800@x.io", "password": "x"}',  # a lone surrogate: valid JSON, no text
        b'{"email": "a@x.io", "password": "\\udfff"}',
        b'{"email": "a@x.io"',
        b"\xff\xfe",
    ],
)
def test_malformed_login_bodies_get_422_never_500(tmp_path, monkeypatch, body):
    _app, server = make_server(tmp_path, monkeypatch)
    with server:
        response = httpx.post(f"{server.url}/login", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, response.text
