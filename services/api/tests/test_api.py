"""The api service over real HTTP (uvicorn on loopback): login, the auth matrix, resources."""

from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from api.tokens import TokenIssuer

PASSWORD = "correct horse battery"


@pytest.fixture
def server(api_server):
    api_server.add_user("admin@x.io", PASSWORD, "Admin")
    api_server.add_user("uploader@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("device@x.io", PASSWORD, "Device")
    api_server.add_user("op@x.io", PASSWORD, "Operator")
    return api_server


def login(server, email, password=PASSWORD) -> httpx.Response:
    return httpx.post(f"{server.url}/login", json={"email": email, "password": password})


def token(server, email) -> str:
    response = login(server, email)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


def test_health_and_docs(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/docs").status_code == 200
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert {"/login", "/resources/{name}", "/healthz"} <= set(paths)


def test_login(server):
    claims = jwt.decode(token(server, "Admin@X.io"), options={"verify_signature": False})
    assert claims["sub"] == "admin@x.io" and claims["role"] == "Admin"
    assert claims["exp"] - claims["iat"] == 30 * 60
    assert login(server, "admin@x.io", "wrong password").status_code == 401
    assert login(server, "nobody@x.io").status_code == 401
    assert httpx.post(f"{server.url}/login", json={"email": "x"}).status_code == 422


def test_upload_and_download(server):
    up = token(server, "uploader@x.io")
    response = httpx.put(f"{server.url}/resources/azaion.onnx.small", content=b"\x01" * 3072, headers=bearer(up))
    assert response.status_code == 200 and response.json() == {"name": "azaion.onnx.small", "size": 3072}
    for email in ("device@x.io", "op@x.io", "admin@x.io"):
        got = httpx.get(f"{server.url}/resources/azaion.onnx.small", headers=bearer(token(server, email)))
        assert got.status_code == 200 and got.content == b"\x01" * 3072
    assert httpx.get(f"{server.url}/resources/missing.small", headers=bearer(up)).status_code == 404


def test_auth_matrix(server):
    url = f"{server.url}/resources/azaion.onnx.small"
    secret = "test-secret-for-the-suite-only-0123456789abcdef"
    version = server.users.token_version("admin@x.io")
    expired = TokenIssuer(secret, timedelta(minutes=5)).issue(
        "admin@x.io", "Admin", version, datetime.now(UTC) - timedelta(hours=1)
    )
    forged = TokenIssuer("another-secret-of-sufficient-length-0123456789", timedelta(minutes=5)).issue(
        "admin@x.io", "Admin", version
    )
    good = token(server, "admin@x.io")
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    none_alg = jwt.encode({"sub": "admin@x.io", "role": "Admin"}, key=None, algorithm="none")
    cases = {
        "no token": {},
        "not bearer": {"Authorization": f"Basic {good}"},
        "garbage": bearer("abc.def.ghi"),
        "expired": bearer(expired),
        "forged": bearer(forged),
        "tampered": bearer(tampered),
        "alg none": bearer(none_alg),
    }
    for name, headers in cases.items():
        for method in ("GET", "PUT"):
            response = httpx.request(method, url, headers=headers, content=b"x" if method == "PUT" else None)
            assert response.status_code == 401, (name, method, response.text)
    assert "expired" in httpx.get(url, headers=cases["expired"]).json()["detail"]
    for email in ("device@x.io", "op@x.io"):
        response = httpx.put(url, content=b"x", headers=bearer(token(server, email)))
        assert response.status_code == 403, email
        assert "may not upload" in response.json()["detail"]


def test_removed_user_token_stops_working(server):
    device = token(server, "device@x.io")
    server.users.remove("device@x.io")
    assert httpx.get(f"{server.url}/resources/x", headers=bearer(device)).status_code == 401


@pytest.mark.parametrize("name", ["..", ".hidden", "a" * 129, "a%20b", "%2e%2e", "semi;colon", "x%00y"])
def test_bad_names_refused(server, name):
    up = bearer(token(server, "uploader@x.io"))
    response = httpx.put(f"{server.url}/resources/{name}", content=b"x", headers=up)
    assert response.status_code in (400, 404), (name, response.status_code)
    assert not any(p.name != "resources" for p in server.root.rglob("*") if p.is_file() and "resources" in p.parts)


def test_path_traversal_never_reaches_disk(server, tmp_path):
    up = bearer(token(server, "uploader@x.io"))
    for raw in ("/resources/../users.sqlite3", "/resources/..%2Fusers.sqlite3", "/resources/%2e%2e%2fescape"):
        response = httpx.put(f"{server.url}{raw}", content=b"evil", headers=up)
        assert response.status_code in (400, 404, 405), raw
    written = [p for p in server.root.rglob("*") if p.is_file() and p.read_bytes() == b"evil"]
    assert written == []


def test_oversize_upload_refused_and_not_kept(server):
    up = bearer(token(server, "uploader@x.io"))
    url = f"{server.url}/resources/big.bin"
    response = httpx.put(url, content=b"x" * (2 * 1024 * 1024 + 1), headers=up)
    assert response.status_code == 413

    def chunks():  # no content-length: the limit is enforced while streaming
        for _ in range(3):
            yield b"y" * (1024 * 1024)

    response = httpx.put(url, content=chunks(), headers=up)
    assert response.status_code == 413
    assert httpx.get(url, headers=up).status_code == 404
    leftovers = [p for p in (server.root / "api" / "resources").glob("*")]
    assert leftovers == []
