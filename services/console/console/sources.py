"""What the console asks other services: each service's Prometheus ``/metrics``, and the api.

A source that does not answer is a message on the page ("the api is unreachable: ..."), never an
error page. Metrics are parsed with prometheus_client's own parser. A service name that resolves to
several addresses (``docker compose --scale augmentor=3``) is read at every address: each one that
answers is a replica alive.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from azaion_shared.tls import client_context
from console.errors import ApiUnreachable


@dataclass
class Scrape:
    """One service's metrics summed over its replicas: ``values[name]`` (the sample's full name, labels
    dropped), how many replicas answered, and why the others did not."""

    service: str
    url: str
    alive: int = 0
    values: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def value(self, name: str) -> float | None:
        return self.values.get(name)


def _addresses(url: str) -> list[str]:
    """The URL once per address its host resolves to (the Host header keeps the name)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return [url]
    addresses = sorted({info[4][0] for info in found})
    if len(addresses) <= 1:
        return [url]
    return [urlunsplit(parts._replace(netloc=f"[{a}]:{port}" if ":" in a else f"{a}:{port}")) for a in addresses]


def scrape(service: str, url: str, timeout: float) -> Scrape:
    result = Scrape(service, url)
    host = urlsplit(url).netloc
    for address in _addresses(url):
        try:
            response = httpx.get(address, timeout=timeout, headers={"Host": host})
            response.raise_for_status()
            families = list(text_string_to_metric_families(response.text))
        except (httpx.HTTPError, ValueError) as exc:
            result.errors.append(f"{address}: {exc or type(exc).__name__}")
            continue
        result.alive += 1
        for family in families:
            for sample in family.samples:
                result.values[sample.name] = result.values.get(sample.name, 0.0) + float(sample.value)
    return result


class Rate:
    """Messages per second from a counter seen at two scrapes."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None
        self.value: float | None = None

    def update(self, total: float | None) -> float | None:
        now = time.monotonic()
        if total is None:
            return self.value
        if self._last is not None and now - self._last[0] >= 0.5:
            seconds = now - self._last[0]
            self.value = max(0.0, (total - self._last[1]) / seconds)
        if self._last is None or now - self._last[0] >= 0.5:
            self._last = (now, total)
        return self.value


class Api:
    """The api as the console uses it: log in, and read what only the api knows."""

    def __init__(self, url: str, ca_bundle=None, timeout: float = 3.0):
        verify = client_context(ca_bundle) if url.startswith("https://") else True
        self._http = httpx.Client(base_url=url, verify=verify, timeout=timeout)
        self.url = url

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnreachable(f"the api at {self.url} is unreachable: {exc or type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise ApiUnreachable(f"the api at {self.url} answered {response.status_code}")
        return response

    def login(self, email: str, password: str) -> tuple[str | None, str]:
        """(token, role) or (None, why not)."""
        response = self._call("POST", "/login", json={"email": email, "password": password})
        if response.status_code != 200:
            try:
                why = response.json().get("detail", response.text)
            except ValueError:
                why = response.text
            return None, str(why)
        token = response.json()["token"]
        return token, str(claims(token).get("role", ""))

    def get(self, path: str, token: str):
        response = self._call("GET", path, token)
        if response.status_code == 401:
            raise PermissionError("the api refused the session: log in again")
        response.raise_for_status()
        return response.json()


def claims(token: str) -> dict:
    """The claims of a token the api has just issued to us (read, not verified: the api signs them
    with a secret only it holds; what the console trusts is its own signed session)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
