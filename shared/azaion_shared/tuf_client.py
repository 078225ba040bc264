"""The fleet's update client: python-tuf's ``ngclient`` over our HTTP client.

A device (and the trainer, before it signs anything new) learns what is released only through
:class:`TrustClient`: it follows the root's rotations from the root it was given, refuses metadata
that is expired, under-signed, older than what it has seen or inconsistent with the rest, and reads
a target (a release manifest, a channel pointer) only when its hash and length are the ones the
signed targets metadata names. python-tuf, the reference implementation, does every one of those
checks; this module chooses where the files live, fetches through :class:`ApiClient` (TLS, token,
re-login) and turns python-tuf's exceptions into ours:

- :class:`~azaion_shared.errors.StaleMetadataError`: metadata past its expiry (a freeze);
- :class:`~azaion_shared.errors.SignatureError`: anything else the repository served that does not verify;
- :class:`~azaion_shared.errors.ApiError`: the repository could not be reached or answered with an error.

A device without a trustworthy clock (boards without a real-time clock boot at 1970 until NTP answers)
would judge every expiry as far away. So the client remembers when it last confirmed the metadata
fresh, and refuses to judge while its clock reads earlier than that: it says so and the device keeps
running its last verified release until the clock is set.

``python -m azaion_shared.tuf_client`` is the client-under-test command line of the TUF conformance
suite (``make tuf-conformance``), so that the suite exercises this very code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from tuf.api import exceptions as tuf_errors
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from azaion_shared.atomic import atomic_write_text
from azaion_shared.errors import ApiAuthError, ApiError, ApiNotFoundError, SignatureError, StaleMetadataError
from azaion_shared.releases import iso_at
from azaion_shared.tuf_repository import ROOT, TARGETS, load

log = logging.getLogger(__name__)

#: python-tuf's failures, as ours (the first match wins: expiry before the other repository errors).
ERRORS = {
    tuf_errors.ExpiredMetadataError: StaleMetadataError,
    tuf_errors.RepositoryError: SignatureError,
    tuf_errors.DownloadError: ApiError,
}
#: How far back the clock may step (NTP corrections) before the client stops trusting it.
CLOCK_SLACK_SECONDS = 300.0


class Fetcher(FetcherInterface):
    """Bytes for ngclient: through an :class:`ApiClient` (token, TLS), or a bare httpx client.

    A file must arrive whole within ``deadline`` seconds (default 60): a server that trickles bytes (TUF's
    slow-retrieval attack) never trips a read timeout, which restarts with every byte."""

    def __init__(self, api=None, timeout: float = 30.0, deadline: float = 60.0):
        self.api, self.deadline = api, deadline
        self._http = None if api is not None else httpx.Client(timeout=timeout)

    def _fetch(self, url: str) -> Iterator[bytes]:
        return self._chunks(url)

    def _chunks(self, url: str) -> Iterator[bytes]:
        started = time.monotonic()
        try:
            for chunk in self._body(url):
                if time.monotonic() - started > self.deadline:
                    raise tuf_errors.SlowRetrievalError(
                        f"GET {url}: not whole after {self.deadline:.0f} s (a server that trickles bytes)"
                    )
                yield chunk
        except (ApiNotFoundError, ApiAuthError) as exc:
            raise tuf_errors.DownloadHTTPError(str(exc), exc.status or 0) from exc
        except httpx.TimeoutException as exc:
            raise tuf_errors.SlowRetrievalError(f"GET {url}: {exc}") from exc

    def _body(self, url: str) -> Iterator[bytes]:
        if self.api is not None:
            with self.api.stream(url, f"TUF file {url.rsplit('/', 1)[-1]}") as response:
                yield from response.iter_bytes()  # as the bytes come: the deadline is checked between them
            return
        with self._http.stream("GET", url) as response:
            if response.status_code >= 400:
                raise tuf_errors.DownloadHTTPError(f"GET {url}: HTTP {response.status_code}", response.status_code)
            yield from response.iter_bytes()


class TrustClient:
    """Verified metadata in ``metadata_dir``, verified targets in ``targets_dir``."""

    def __init__(
        self,
        metadata_dir: str | Path,
        metadata_url: str,
        targets_url: str,
        fetcher: FetcherInterface,
        targets_dir: str | Path | None = None,
        clock_file: str | Path | None = None,
    ):
        """``clock_file``: where to remember when the metadata was last confirmed fresh (and refuse to judge
        expiry while the clock reads earlier); None: neither (the conformance suite moves the clock at will)."""
        self.metadata_dir = Path(metadata_dir)
        self.clock_file = Path(clock_file) if clock_file else None
        self.targets_dir = Path(targets_dir) if targets_dir else self.metadata_dir / "targets"
        self.metadata_url, self.targets_url = metadata_url.rstrip("/") + "/", targets_url.rstrip("/") + "/"
        self.fetcher = fetcher
        self.config = UpdaterConfig(app_user_agent="azaion")

    # --- set-up ---------------------------------------------------------------------------------
    def initialise(self, trusted_root: bytes) -> bool:
        """Start from ``trusted_root`` unless this client already trusts a root; True when it did."""
        if (self.metadata_dir / "root.json").exists():
            return False
        load(trusted_root, ROOT)  # a root at all (its signatures are checked at every refresh)
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        (self.metadata_dir / "root.json").write_bytes(trusted_root)
        return True

    def _updater(self) -> Updater:
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        return Updater(
            str(self.metadata_dir),
            self.metadata_url,
            str(self.targets_dir),
            self.targets_url,
            fetcher=self.fetcher,
            config=self.config,
            bootstrap=None,
        )

    # --- online -----------------------------------------------------------------------------------
    def refresh(self) -> Refreshed:
        """Fetch and verify the repository's current metadata (raises StaleMetadataError, SignatureError,
        ApiError); remembers when it was confirmed fresh."""
        from azaion_shared.errors import map_exceptions

        self._check_clock()
        updater = self._updater()
        with map_exceptions(ERRORS, "the fleet's signed metadata"):
            updater.refresh()
        self.confirmed(time.time())
        return Refreshed(self, updater)

    def _check_clock(self) -> None:
        last = self.last_confirmed()
        if last is not None and time.time() < last - CLOCK_SLACK_SECONDS:
            raise StaleMetadataError(
                f"this device's clock reads {iso_at(time.time())}, before {iso_at(last)} when it last confirmed the "
                "fleet's metadata fresh: expiry cannot be judged; set the clock (NTP) to take updates again"
            )

    # --- freshness --------------------------------------------------------------------------------
    def confirmed(self, at: float) -> None:
        if self.clock_file is not None:
            atomic_write_text(self.clock_file, json.dumps({"at": at}))

    def last_confirmed(self) -> float | None:
        """When the metadata was last confirmed fresh (epoch seconds), None when never (or not kept)."""
        if self.clock_file is None:
            return None
        try:
            return float(json.loads(self.clock_file.read_text())["at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # --- offline ------------------------------------------------------------------------------------
    def trusted_targets(self):
        """The targets metadata verified last (its signature checked again here against the trusted
        root; its expiry not: offline, the last verified state is what a device runs)."""
        from azaion_shared.tuf_repository import check_signed_by

        try:
            root = load((self.metadata_dir / "root.json").read_bytes(), ROOT)
            targets = load((self.metadata_dir / "targets.json").read_bytes(), TARGETS)
        except OSError:
            return None
        check_signed_by(root, TARGETS, targets)
        return targets

    def cached(self, path: str) -> bytes | None:
        """A target's bytes as last verified, without the network; None when not cached or not listed."""
        targets = self.trusted_targets()
        info = targets.signed.targets.get(path) if targets else None
        if info is None:
            return None
        from urllib.parse import quote

        try:
            data = (self.targets_dir / quote(path, "")).read_bytes()
            info.verify_length_and_hashes(data)
        except (OSError, tuf_errors.LengthOrHashMismatchError):
            return None
        return data


def trust_client(api, root_file: Path | None, variable: str, folder: Path, clock: bool = False) -> TrustClient:
    """The fleet's TUF client through ``api``, its files under ``folder`` (``metadata/``, ``targets/``, and
    with ``clock`` the time of its last confirmation), started from the root file the setting ``variable``
    names; a ConfigError says what to set."""
    from azaion_shared.errors import ConfigError

    if root_file is None or not root_file.is_file():
        state = "is not set" if root_file is None else f"= {root_file} does not exist"
        raise ConfigError(
            f"{variable} {state}: only what the fleet's root vouches for is trusted; give it the root.json of the "
            f"root ceremony (`python -m azaion_shared root --help`), e.g. {variable}=/keys/root.json"
        )
    metadata_url, targets_url = api.tuf_urls()
    client = TrustClient(
        folder / "metadata",
        metadata_url,
        targets_url,
        Fetcher(api),
        folder / "targets",
        clock_file=folder / "confirmed.json" if clock else None,
    )
    client.initialise(root_file.read_bytes())
    return client


class Refreshed:
    """The repository as just verified: read targets from it."""

    def __init__(self, client: TrustClient, updater: Updater):
        self.client, self.updater = client, updater

    def paths(self) -> list[str]:
        """Every target path of the top-level targets role."""
        targets = self.client.trusted_targets()
        return sorted(targets.signed.targets) if targets else []

    def read(self, path: str) -> bytes | None:
        """A target's verified bytes (downloaded unless cached with the right hash); None when not listed."""
        from azaion_shared.errors import map_exceptions

        with map_exceptions(ERRORS, f"target {path}"):
            info = self.updater.get_targetinfo(path)
            if info is None:
                return None
            local = self.updater.find_cached_target(info) or self.updater.download_target(info)
        return Path(local).read_bytes()


# --- the conformance suite's client-under-test command line ------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m azaion_shared.tuf_client",
        description="The fleet's TUF client as the TUF conformance suite drives it (CLIENT-CLI.md): "
        "init TRUSTED_ROOT | refresh | download. Exit 0 on success, 1 on any failure.",
    )
    parser.add_argument("--metadata-dir", required=True, type=Path)
    parser.add_argument("--metadata-url")
    parser.add_argument("--target-name", action="append", default=[])
    parser.add_argument("--target-base-url")
    parser.add_argument("--target-dir", type=Path)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init").add_argument("trusted_root", type=Path)
    sub.add_parser("refresh")
    sub.add_parser("download")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.WARNING)
    if args.command == "init":
        args.metadata_dir.mkdir(parents=True, exist_ok=True)
        (args.metadata_dir / "root.json").write_bytes(args.trusted_root.read_bytes())
        return 0
    client = TrustClient(
        args.metadata_dir,
        args.metadata_url or "",
        args.target_base_url or "http://unused/",
        Fetcher(),
        args.target_dir,
    )
    try:
        refreshed = client.refresh()
        for name in args.target_name if args.command == "download" else []:
            if refreshed.read(name) is None:
                print(f"{name}: not a target of this repository", file=sys.stderr)
                return 1
    except (ApiError, SignatureError, OSError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
