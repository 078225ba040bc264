"""The api's HTTP contract is written once (``azaion_shared.http_contract``): the api serves it, the
shared ``ApiClient`` parses it, and the console talks to the api only through that client.

Per route: the real api's answer validates against the shared model, and ``ApiClient`` round-trips it.
A route or a field changed on one side only fails here: the api's route table must equal the
contract's, each JSON route must declare the contract's model, and the client must spell no path of
its own."""

from __future__ import annotations

import ast
import inspect
import json
import os
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel
from release_kit import FAST, PASSWORD, Kit, onnx_file

from azaion_shared import http_contract as contract
from azaion_shared.api_client import ApiClient
from azaion_shared.crypto import generate_key, parse_key
from azaion_shared.distribution import big_name, small_name
from azaion_shared.errors import ApiAuthError, ApiError
from azaion_shared.roles import Role

ROOT = Path(__file__).resolve().parents[1]

#: every route of the contract: (method, path) -> the model of its JSON answer (None: bytes or a signed document)
ROUTES: dict[tuple[str, str], type[BaseModel] | None] = {
    ("GET", contract.HEALTH): contract.Health,
    ("POST", contract.LOGIN): contract.LoginResponse,
    ("GET", contract.RESOURCE): None,
    ("PUT", contract.RESOURCE): contract.Stored,
    ("DELETE", contract.RESOURCE): contract.Deleted,
    ("GET", contract.RELEASES): contract.ReleaseList,
    ("GET", contract.TUF_METADATA): None,
    ("GET", contract.TUF_TARGET): None,
    ("PUT", contract.TUF_TARGETS): contract.TargetsStored,
    ("GET", contract.PART): contract.PartLink,
    ("GET", contract.PART_CONTENT): None,
    ("POST", contract.HEARTBEAT): contract.HeartbeatAck,
    ("GET", contract.DEVICES): contract.DeviceRecord,
}


def _operations(app) -> dict[tuple[str, str], dict]:
    """The api's routes as its OpenAPI schema lists them: (METHOD, path) -> operation."""
    paths = app.openapi()["paths"]
    return {(method.upper(), path): op for path, ops in paths.items() for method, op in ops.items()}


def _schema_name(schema: dict) -> str | None:
    ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def _fields(schema: dict) -> tuple[set, set]:
    return set(schema.get("properties", {})), set(schema.get("required", []))


def test_the_api_serves_exactly_the_contract_routes_and_shapes(api_server):
    schema = api_server.app.openapi()
    components = schema["components"]["schemas"]
    served = _operations(api_server.app)
    assert set(served) == set(ROUTES), "a route of the api is not in azaion_shared.http_contract, or the reverse"
    for key, model in ROUTES.items():
        if model is None:
            continue
        answers = served[key]["responses"]
        ok = next(code for code in answers if code.startswith("2"))
        declared = _schema_name(answers[ok]["content"]["application/json"]["schema"])
        assert declared == model.__name__, f"{key}: the api answers {declared}, the contract says {model.__name__}"
        ours = model.model_json_schema()
        assert _fields(components[declared]) == _fields(ours), f"{key}: the fields differ from the contract's"


def test_the_api_reads_the_contract_request_bodies(api_server):
    served = _operations(api_server.app)
    for key, body in (
        (("POST", contract.LOGIN), contract.LoginRequest),
        (("POST", contract.HEARTBEAT), contract.Heartbeat),
        (("PUT", contract.TUF_TARGETS), contract.TargetsUpload),
    ):
        declared = _schema_name(served[key]["requestBody"]["content"]["application/json"]["schema"])
        assert declared == body.__name__, key


def test_the_client_spells_no_path_of_its_own():
    """Every URL path the client sends is a contract constant: no string literal in its code begins with '/'."""
    import azaion_shared.api_client as module

    tree = ast.parse(inspect.getsource(module))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node) is not None
    }
    paths = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        if node.value.startswith("/") and node.value != "/"  # "/" alone: stripped off the base URL
    ]
    assert paths == []


@pytest.fixture
def contract_site(api_server, tmp_path):
    """The api with an uploader (the trainer), a device and an Admin, and a local-folder CDN it shares."""
    from azaion_shared.cdn import LocalStorage

    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("edge@x.io", PASSWORD, "Device")
    api_server.add_user("admin@x.io", PASSWORD, "Admin")
    cdn = LocalStorage(tmp_path / "cdn")
    api_server.app.state.cdn = cdn
    return api_server, Kit(api_server.url, cdn, parse_key(generate_key()), tmp_path / "keys", api_server.trust)


def raw(url: str, method: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, url + path, headers=headers, timeout=10, **kwargs)


def test_every_route_answers_its_model_and_the_client_round_trips_it(contract_site, tmp_path):
    api, kit = contract_site
    health = raw(api.url, "GET", contract.HEALTH)
    assert contract.Health.model_validate(health.json()).status == "ok"

    with kit.client() as trainer, ApiClient(api.url, "edge@x.io", PASSWORD, retry=FAST) as edge:
        token = trainer.login()
        answer = raw(api.url, "POST", contract.LOGIN, json={"email": "trainer@x.io", "password": PASSWORD})
        assert contract.LoginResponse.model_validate(answer.json()).token
        assert trainer.role() == Role.RESOURCE_UPLOADER.value

        stored = trainer.upload("notes.bin", b"x" * 100)
        assert stored == contract.Stored(name="notes.bin", size=100)
        assert edge.download("notes.bin") == b"x" * 100

        (tmp_path / "m.onnx").write_bytes(os.urandom(40_000))  # any bytes: releases do not parse models
        model = onnx_file(tmp_path / "m.onnx")
        release = kit.release(model, promote=True)
        versions = raw(api.url, "GET", contract.RELEASES, token).json()
        assert contract.ReleaseList.model_validate(versions).versions == [release.version]
        listed = trainer.releases()
        assert listed.versions == [release.version] and listed.channels[0].version == release.version
        assert listed.targets_version == 2 and listed.expires  # the release, then the pointer
        timestamp = raw(api.url, "GET", contract.TUF_METADATA.format(name="timestamp.json"), token)
        assert timestamp.status_code == 200 and json.loads(timestamp.content)["signed"]["_type"] == "timestamp"
        metadata_url, targets_url = edge.tuf_urls()
        assert metadata_url.startswith(api.url) and targets_url.endswith(contract.TUF_TARGETS + "/")
        with edge.stream(metadata_url + "timestamp.json", "timestamp") as answer:
            assert answer.read() == timestamp.content  # what ngclient reads, through the client

        big = big_name(release.artifacts[0].resource)
        link = raw(api.url, "GET", contract.PART.format(name=big), token).json()
        part = contract.PartLink.model_validate(link)
        assert part.auth and part.url == contract.PART_CONTENT.format(name=big)
        artifact = release.artifacts[0]
        fetched = edge.download_part(big, tmp_path / "got.big", artifact.big_sha256, artifact.big_size)
        assert fetched.read_bytes() == (tmp_path / "cdn" / big).read_bytes()  # through PART_CONTENT

        ack = edge.heartbeat("edge-1", version=str(release.version), backend="onnxruntime", fps=12.5)
        assert ack.name == "edge-1" and ack.seen_at
        with ApiClient(api.url, "admin@x.io", PASSWORD, retry=FAST) as admin:
            listed = raw(api.url, "GET", contract.DEVICES, admin.login()).json()
            assert [contract.DeviceRecord.model_validate(d).name for d in listed] == ["edge-1"]
            records = admin.devices()
            assert records[0].user == "edge@x.io" and records[0].fps == 12.5
            assert admin.devices(version="999") == []

        second, third = kit.release(model), kit.release(model)
        with kit.client() as again:
            assert kit.publisher(again).prune(1) == [second.version]  # never the channel's release 1
        assert trainer.releases().versions == [release.version, third.version]
        assert not (api.root / "api" / "resources" / small_name(second.artifacts[0].resource)).exists()
        assert trainer.delete("notes.bin") is True and trainer.delete("notes.bin") is False


def test_a_token_only_client_does_not_log_in_again(contract_site):
    """The console holds an Admin's token, not the password: a refused token is an ApiAuthError."""
    api, _ = contract_site
    with ApiClient(api.url, "admin@x.io", PASSWORD, retry=FAST) as admin:
        token = admin.login()
    with ApiClient(api.url, "admin@x.io", None, token=token, retry=FAST) as held:
        assert held.devices() == []
    with ApiClient(api.url, "admin@x.io", None, token=token + "x", retry=FAST) as forged, pytest.raises(ApiAuthError):
        forged.devices()
    with ApiClient(api.url, "edge@x.io", PASSWORD, retry=FAST) as edge, pytest.raises(ApiAuthError, match="Admin"):
        edge.devices()


def test_an_answer_off_the_contract_is_an_api_error_naming_the_request():
    """A server whose answer lacks a contract field (an api of another version) is refused clearly."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == contract.LOGIN:
            return httpx.Response(200, json={"token": "a.e30.b"})
        return httpx.Response(200, json={"versions": ["one"]})

    client = ApiClient("http://api.test", "x@x.io", PASSWORD, retry=FAST, transport=httpx.MockTransport(handler))
    with client, pytest.raises(ApiError, match=r"list of releases.*contract.*versions"):
        client.releases()


def test_a_heartbeat_off_the_contract_is_refused_before_it_is_sent():
    def handler(request: httpx.Request) -> httpx.Response:  # pragma: no cover - must not be reached
        raise AssertionError(f"sent {request.url}")

    client = ApiClient("http://api.test", "x@x.io", PASSWORD, retry=FAST, transport=httpx.MockTransport(handler))
    with client, pytest.raises(ApiError, match="name"):
        client.heartbeat("../not a name")


def test_the_console_reaches_the_api_only_through_the_client():
    """No module of the console spells a path of the api's (its own /login page is its own route), and
    the one that talks to the api builds ApiClients."""
    console = ROOT / "services" / "console" / "console"
    api_paths = {contract.DEVICES, contract.RELEASES, contract.TUF_METADATA, contract.TUF_TARGETS, contract.HEARTBEAT}
    for path in console.rglob("*.py"):
        literals = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)}
        assert not literals & api_paths, path
    from console.sources import Api

    assert "ApiClient(" in inspect.getsource(Api)
