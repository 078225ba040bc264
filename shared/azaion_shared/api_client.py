"""HTTP client of the api service: login, resources, the fleet's TUF repository, parts and devices.

Every path and every JSON answer comes from :mod:`azaion_shared.http_contract`, the definitions the
api serves; an answer that does not fit its model is an :class:`ApiError` naming the request.

- One re-login on 401/403, serialized across threads: when several downloads
  see an expired token at once, one logs in and the others reuse its token.
- Retries with exponential back-off and full jitter on 5xx, 429, connection
  errors and timeouts, bounded; then :class:`ApiError` says what failed and how often.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import random
import ssl
import threading
import time
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError

from azaion_shared import http_contract as contract
from azaion_shared.atomic import atomic_move, atomic_writer
from azaion_shared.errors import (
    ApiAuthError,
    ApiError,
    ApiNotFoundError,
    ChecksumMismatchError,
    TransferInterrupted,
)
from azaion_shared.tls import check_url, client_context

log = logging.getLogger(__name__)

PROGRESS_MIN_BYTES = 1024 * 1024
#: The api refuses uploads over 64 MiB by default; a client accepts no more than that.
DEFAULT_MAX_DOWNLOAD = 64 * 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^attempt)]."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


_RETRY_STATUSES = {429, 500, 502, 503, 504}
_Answer = typing.TypeVar("_Answer", bound=BaseModel)


class ApiClient:
    """A thread-safe client; use it as a context manager or call :meth:`close`.

    With a password it logs in when it must (and once more on a 401/403); with only a ``token`` (the
    console, holding an Admin's token in its session) a refused token is an :class:`ApiAuthError`."""

    def __init__(
        self,
        base_url: str,
        email: str,
        password: str | None,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = RetryPolicy(),
        progress: bool = False,
        transport: httpx.BaseTransport | None = None,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD,
        verify: ssl.SSLContext | bool = True,
    ):
        self._email = email
        self.max_download_bytes = max_download_bytes
        self._password = password
        self._retry = retry
        self._progress = progress
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport, verify=verify)
        self._token: str | None = token
        self._login_lock = threading.Lock()
        self.logins = 0  # how many times this client logged in (visible for tests and metrics)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- authentication -------------------------------------------------------------------
    @property
    def token(self) -> str | None:
        """The session's token (None before the first login): another process of the same device may
        start from it instead of logging in again."""
        return self._token

    def login(self) -> str:
        with self._login_lock:
            self._token = self._login_once()
            return self._token

    def _login_once(self) -> str:
        if not self._password:
            raise ApiAuthError(f"the api refused the token of {self._email or 'this session'}: log in again", 401)
        body = contract.LoginRequest(email=self._email, password=self._password).model_dump()
        response = self._send_with_retries("login", lambda: self._http.post(contract.LOGIN, json=body))
        if response.status_code in (401, 403):
            raise ApiAuthError(f"login refused for {self._email}: {_detail(response)}", response.status_code)
        self._raise_for_status(response, "login")
        self.logins += 1
        return _parse(response, contract.LoginResponse, "login").token

    def _current_token(self) -> str:
        token = self._token
        if token is None:
            with self._login_lock:
                if self._token is None:
                    self._token = self._login_once()
                token = self._token
        return token

    def _relogin(self, stale: str) -> str:
        with self._login_lock:
            if self._token == stale:  # nobody refreshed it meanwhile
                self._token = self._login_once()
            return self._token

    def role(self) -> str | None:
        """The role in this client's token (read, not verified: the server decides every request)."""
        token = self._current_token()
        try:
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            return None
        role = claims.get("role") if isinstance(claims, dict) else None
        return str(role) if role is not None else None

    # --- resources ------------------------------------------------------------------------
    def download(self, name: str, dest: str | Path | None = None) -> bytes | Path:
        """The resource's bytes, or streamed to ``dest`` (written atomically; then ``dest`` is returned).
        A body over ``max_download_bytes`` is refused with an ApiError, never held or written whole."""

        def attempt(token: str) -> httpx.Response:
            request = self._http.build_request("GET", contract.RESOURCE.format(name=name), headers=_auth(token))
            response = self._http.send(request, stream=True)
            if response.status_code != 200:
                response.read()
                response.close()
                return response
            try:
                if dest is None:
                    body = bytearray()
                    self._read_body(response, name, body.extend)
                else:
                    with atomic_writer(dest) as fh:
                        self._read_body(response, name, fh.write)
                    body = b""
            finally:
                response.close()
            return httpx.Response(200, content=bytes(body), request=request)  # read in chunks, with progress

        response = self._authorized(f"download of {name}", attempt)
        return response.content if dest is None else Path(dest)

    @contextlib.contextmanager
    def stream(self, url: str, what: str) -> Iterator[httpx.Response]:
        """GET ``url`` (api-relative or absolute) with this client's token, the body not yet read: TUF
        metadata and targets, whose reader bounds the length itself. One re-login on 401/403; an error
        status raises as :meth:`_raise_for_status` says; no retries (the next poll is the retry)."""
        for last_try in (False, True):
            token = self._current_token()
            with self._http.stream("GET", url, headers=_auth(token)) as response:
                if response.status_code in (401, 403) and not last_try and self._password:
                    self._relogin(token)
                    continue
                if response.status_code >= 400:
                    response.read()
                    self._raise_for_status(response, what)
                yield response
                return

    def heartbeat(
        self,
        name: str,
        version: str | None = None,
        backend: str | None = None,
        fps: float | None = None,
        last_error: str | None = None,
        confirmed_at: str | None = None,
    ) -> contract.HeartbeatAck:
        """Report this device to the api's inventory (``python -m api devices list``)."""
        what = f"heartbeat of {name}"
        try:
            report = contract.Heartbeat(
                name=name, version=version, backend=backend, fps=fps, last_error=last_error, confirmed_at=confirmed_at
            )
        except ValidationError as exc:
            raise ApiError(f"{what}: {_problems(exc)}") from None
        body = report.model_dump()
        response = self._authorized(what, lambda t: self._http.post(contract.HEARTBEAT, json=body, headers=_auth(t)))
        return _parse(response, contract.HeartbeatAck, what)

    def devices(self, version: str | None = None) -> list[contract.DeviceRecord]:
        """Every device's last heartbeat (an Admin's token); only those running ``version`` when given."""
        params = {"version": version} if version is not None else None
        response = self._authorized(
            "device inventory", lambda t: self._http.get(contract.DEVICES, params=params, headers=_auth(t))
        )
        return _parse_list(response, contract.DeviceRecord, "device inventory")

    def upload(self, name: str, data: bytes | str | Path) -> contract.Stored:
        """Store a resource (bytes, or the contents of a file) under ``name``."""
        if isinstance(data, (str, Path)):
            data = Path(data).read_bytes()
        headers = {"Content-Type": "application/octet-stream"}
        path = contract.RESOURCE.format(name=name)
        response = self._authorized(
            f"upload of {name}",
            lambda token: self._http.put(path, content=data, headers={**headers, **_auth(token)}),
        )
        return _parse(response, contract.Stored, f"upload of {name}")

    # --- the fleet's TUF repository (azaion_shared.tuf_client reads it; the trainer writes targets) ----
    def tuf_urls(self) -> tuple[str, str]:
        """(metadata base URL, targets base URL) of the api's TUF repository, for ngclient."""
        base = str(self._http.base_url).rstrip("/")
        return base + contract.TUF_METADATA.rsplit("/", 1)[0] + "/", base + contract.TUF_TARGETS + "/"

    def releases(self) -> contract.ReleaseList:
        """The api's view of the releases and channels (for people; devices verify TUF metadata)."""
        what = "list of releases"
        response = self._authorized(what, lambda t: self._http.get(contract.RELEASES, headers=_auth(t)))
        return _parse(response, contract.ReleaseList, what)

    def put_targets(self, metadata: dict, files: dict[str, bytes]) -> int:
        """Store new targets metadata (signed by the publisher) and the target files it adds."""
        body = contract.TargetsUpload(
            metadata=metadata, files={path: base64.b64encode(data).decode("ascii") for path, data in files.items()}
        ).model_dump()
        what = f"targets version {metadata.get('signed', {}).get('version')}"
        response = self._authorized(what, lambda t: self._http.put(contract.TUF_TARGETS, json=body, headers=_auth(t)))
        return _parse(response, contract.TargetsStored, what).version

    def delete(self, name: str) -> bool:
        """Remove a resource (a pruned release's small part); True when it was there."""
        what, path = f"deletion of {name}", contract.RESOURCE.format(name=name)
        response = self._authorized(what, lambda t: self._http.delete(path, headers=_auth(t)))
        return _parse(response, contract.Deleted, what).existed

    def download_part(self, name: str, dest: str | Path, sha256: str, size: int) -> Path:
        """A big part, resumable: the api says where to GET it (a short-lived presigned S3 URL, or itself for
        a local-folder CDN); bytes go to ``dest.part`` and a broken transfer continues with a Range request.
        The whole must have exactly ``size`` bytes and hash to ``sha256`` (from a signed manifest), or it is
        refused and discarded."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        last = ""
        path = contract.PART.format(name=name)
        for attempt in range(self._retry.attempts):
            link = self._authorized(f"link to {name}", lambda t: self._http.get(path, headers=_auth(t)))
            answer = _parse(link, contract.PartLink, f"link to {name}")
            try:
                self._fetch_rest(name, answer.url, answer.auth, part, size)
                break
            except (httpx.TransportError, TransferInterrupted) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt + 1 < self._retry.attempts:
                delay = self._retry.delay(attempt)
                have = part.stat().st_size if part.exists() else 0
                log.warning(
                    "download of %s broke at %d/%d bytes (%s); resuming in %.1f s", name, have, size, last, delay
                )
                time.sleep(delay)
        else:
            raise ApiError(f"download of {name} gave up after {self._retry.attempts} attempts; last: {last}")
        from azaion_shared.cdn import sha256_file

        actual = sha256_file(part)
        if actual != sha256:
            part.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"{name}: SHA-256 {actual[:16]}… is not the {sha256[:16]}… the signed release says: "
                "a forged or corrupted part, refused"
            )
        atomic_move(part, dest)
        return dest

    def _fetch_rest(self, name: str, url: str, with_token: bool, part: Path, size: int) -> None:
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if have == size:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        if with_token:
            headers |= _auth(self._current_token())
        with self._http.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status in (401, 403) and with_token:
                self._relogin(headers["Authorization"].split(" ", 1)[1])
                raise TransferInterrupted(f"HTTP {status}")
            if status in _RETRY_STATUSES or status in (401, 403):  # 403: a presigned URL that expired meanwhile
                raise TransferInterrupted(f"HTTP {status}")
            if status == 404:
                raise ApiNotFoundError(f"download of {name}: not found", status)
            if status not in (200, 206):
                raise ApiError(f"download of {name} failed with HTTP {status}", status)
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if status == 206 else os.O_TRUNC)
            with open(os.open(part, flags, 0o600), "wb") as fh:  # encrypted, yet nobody else's business
                have = have if status == 206 else 0
                for chunk in response.iter_bytes(1024 * 1024):
                    have += len(chunk)
                    if have > size:
                        part.unlink(missing_ok=True)
                        raise ChecksumMismatchError(f"{name}: more than the {size} bytes the signed release says")
                    fh.write(chunk)
        if have < size:
            raise TransferInterrupted(f"the body ended at {have} of {size} bytes")

    def _read_body(self, response: httpx.Response, name: str, write: Callable[[bytes], object]) -> None:
        total = int(response.headers.get("content-length", 0) or 0)
        limit = self.max_download_bytes
        if total > limit:
            raise ApiError(f"download of {name}: {total} bytes announced, over the limit of {limit} bytes")
        received = 0
        bar = None
        if self._progress and total >= PROGRESS_MIN_BYTES:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}", leave=False)
        try:
            for chunk in response.iter_bytes(1024 * 1024):
                received += len(chunk)
                if received > limit:
                    raise ApiError(f"download of {name}: more than the limit of {limit} bytes; refused")
                write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()

    # --- the retry and re-login loop ------------------------------------------------------------
    def _authorized(self, what: str, attempt: Callable[[str], httpx.Response]) -> httpx.Response:
        token = self._current_token()
        relogged = False
        while True:
            response = self._send_with_retries(what, lambda t=token: attempt(t))
            if response.status_code in (401, 403) and not relogged and self._password:
                relogged = True
                log.info("%s: %s, logging in again once", what, response.status_code)
                token = self._relogin(token)
                continue
            self._raise_for_status(response, what)
            return response

    def _send_with_retries(self, what: str, send: Callable[[], httpx.Response]) -> httpx.Response:
        last, status = "", None
        for attempt in range(self._retry.attempts):
            try:
                response = send()
            except httpx.TransportError as exc:  # connect/read/write errors, timeouts, dropped connections
                last, status = f"{type(exc).__name__}: {exc}", None
            else:
                if response.status_code not in _RETRY_STATUSES:
                    return response
                status = response.status_code
                last = f"HTTP {status}: {_detail(response)[:120]}"
            if attempt + 1 < self._retry.attempts:
                delay = self._retry.delay(attempt)
                log.warning("%s failed (%s); retry %d in %.1f s", what, last, attempt + 1, delay)
                time.sleep(delay)
        raise ApiError(
            f"{what} at {self._http.base_url} gave up after {self._retry.attempts} attempts; last: {last}", status
        )

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = _detail(response)
        if status in (401, 403):
            raise ApiAuthError(f"{what} refused ({status}) for {self._email}: {detail}", status)
        if status == 404:
            raise ApiNotFoundError(f"{what}: not found on {self._http.base_url}", status)
        raise ApiError(f"{what} failed with HTTP {status}: {detail}", status)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _json(response: httpx.Response, what: str, kind: type = dict):
    """The JSON object (or ``kind``: list) of an answer, or ApiError naming the request: an empty, cut-off or
    garbled body (a proxy's error page, a file read mid-write) is the api's fault and must not surface as a
    JSONDecodeError."""
    try:
        answer = response.json()
    except ValueError:
        status = response.status_code
        raise ApiError(
            f"{what}: the api answered HTTP {status} with a body that is not JSON: {response.text[:120]!r}", status
        ) from None
    if not isinstance(answer, kind):
        noun = "an object" if kind is dict else "a list"
        raise ApiError(f"{what}: the api answered with JSON that is not {noun}: {response.text[:120]!r}")
    return answer


def _parse(response: httpx.Response, model: type[_Answer], what: str) -> _Answer:
    """An answer as its contract model, or ApiError naming the request and what did not fit."""
    return _parse_list(response, model, what, one=True)


def _parse_list(response: httpx.Response, model: type[_Answer], what: str, one: bool = False):
    """A list answer as contract models (``one``: a single object as one model)."""
    answer = _json(response, what, dict if one else list)
    try:
        return model.model_validate(answer) if one else [model.model_validate(item) for item in answer]
    except ValidationError as exc:
        raise ApiError(f"{what}: the api's answer does not fit the contract: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())[:300]


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))[:300]
    except (ValueError, AttributeError):
        return response.text[:300]


class ApiClientSettings(BaseModel):
    """``AZAION_API_CLIENT__*``: how a trainer or an edge device reaches the api service."""

    url: str = "http://localhost:8000"
    email: str = ""
    password: SecretStr = SecretStr("")
    timeout: float = 30.0
    attempts: int = 5
    max_download_mb: int = Field(64, ge=1, description="Largest resource the client accepts, in MiB.")
    ca_bundle: Path | None = Field(
        None, description="PEM file of the CA that signed the api's certificate (the site CA's ca.crt)."
    )
    allow_insecure_http: bool = Field(
        False, description="Allow a plain http:// url to a host other than loopback (a trusted network only)."
    )

    def client(self, progress: bool = False, token: str | None = None) -> ApiClient:
        """The client these settings describe; ``token``: a session to start from (logged in again when
        it is refused)."""
        if not self.email:
            from azaion_shared.errors import ConfigError

            raise ConfigError("AZAION_API_CLIENT__EMAIL is not set: the api service needs a user to log in as")
        check_url(
            self.url, "AZAION_API_CLIENT__URL", self.allow_insecure_http, "AZAION_API_CLIENT__ALLOW_INSECURE_HTTP"
        )
        return ApiClient(
            self.url,
            self.email,
            self.password.get_secret_value(),
            token=token,
            timeout=self.timeout,
            retry=RetryPolicy(attempts=self.attempts),
            progress=progress,
            max_download_bytes=self.max_download_mb * 1024 * 1024,
            verify=client_context(self.ca_bundle),
        )
