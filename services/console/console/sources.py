"""What the console asks other services: each service's Prometheus ``/metrics``, and the api (through
the shared ``ApiClient``).

A source that does not answer is a message on the page ("the api is unreachable: ..."), never an
error page. Metrics are parsed with prometheus_client's own parser. A service name that resolves to
several addresses (``docker compose --scale augmentor=3``) is read at every address: each one that
answers is a replica alive.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from azaion_shared.api_client import ApiClient, RetryPolicy
from azaion_shared.errors import ApiAuthError, ApiError
from azaion_shared.tls import check_url, client_context
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
    """The api as the console uses it, through the shared :class:`ApiClient` (the same paths, answers and
    retries as every other client): log in with a user's credentials, then read with their token."""

    def __init__(self, url: str, ca_bundle=None, timeout: float = 3.0, allow_insecure_http: bool = False):
        check_url(url, "AZAION_CONSOLE__API_URL", allow_insecure_http, "AZAION_CONSOLE__API_ALLOW_INSECURE_HTTP")
        self.url = url
        self._verify = client_context(ca_bundle) if url.startswith("https://") else True
        self._timeout = timeout

    def close(self) -> None:
        """Nothing is held between requests (each uses its own client)."""

    def _client(self, email: str, password: str | None = None, token: str | None = None) -> ApiClient:
        # A page waits for the api at most about twice its timeout: one quick retry, not a device's patience.
        return ApiClient(
            self.url, email, password, token=token, timeout=self._timeout, retry=PAGE_RETRY, verify=self._verify
        )

    def login(self, email: str, password: str) -> tuple[str | None, str]:
        """(token, role) or (None, why not)."""
        try:
            with self._client(email, password) as client:
                token = client.login()
                return token, client.role() or ""
        except ApiAuthError as exc:
            return None, str(exc)
        except ApiError as exc:
            if exc.status == 429:  # throttled: the api's own words, not "unreachable"
                return None, str(exc)
            raise _unreachable(self.url, exc) from exc

    def devices(self, email: str, token: str) -> list[dict]:
        return [d.model_dump() for d in self._read(email, token, lambda c: c.devices())]

    def releases(self, email: str, token: str) -> dict:
        """The api's view of the releases and channels (rollouts included)."""
        return self._read(email, token, lambda c: c.releases()).model_dump()

    def _read(self, email: str, token: str, call):
        try:
            with self._client(email, token=token) as client:
                return call(client)
        except ApiAuthError as exc:
            raise PermissionError(f"the api refused the session: log in again ({exc})") from exc
        except ApiError as exc:
            raise _unreachable(self.url, exc) from exc


#: one quick retry: a page should say the api is unreachable within seconds, not wait like a device
PAGE_RETRY = RetryPolicy(attempts=2, base_delay=0.2, max_delay=0.5)


def _unreachable(url: str, exc: ApiError) -> ApiUnreachable:
    return ApiUnreachable(f"the api at {url} is unreachable: {exc}")
