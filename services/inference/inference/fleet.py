"""The device's side of releases: follow a channel, verify, fetch, swap; start offline from the cache.

- :class:`Channel` polls the channel's signed pointer (``If-None-Match``: an unchanged channel costs a
  304), refuses a pointer that no trusted publisher signed or whose sequence is older than one seen
  (a replay), and loads the release it names (signature checked, cached).
- :func:`start` picks the release to run at start: the channel's, or, when the api cannot be reached,
  the one in the cache, saying how old it is.
- :class:`Updater` is the background thread of a running device: it polls, downloads and verifies a
  new release, builds and warms up its model, hands it to the pipeline (which swaps between two
  frames), and reports heartbeats. A release that fails anywhere is refused with the reason, and the
  device keeps running what it had.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from azaion_shared.api_client import ApiClient
from azaion_shared.errors import ApiAuthError, ApiError, ApiNotFoundError, AzaionError, SignatureError
from azaion_shared.releases import ChannelPointer, Release, verify_pointer, verify_release
from inference.errors import ModelError
from inference.release_cache import ReleaseCache

log = logging.getLogger(__name__)


class Channel:
    def __init__(self, api: ApiClient, trusted: list, channel: str, cache: ReleaseCache):
        self.api, self.trusted, self.name, self.cache = api, trusted, channel, cache
        self.pointer: ChannelPointer | None = None
        self.etag: str | None = None
        cached = cache.pointer(channel)
        if cached is not None:
            try:
                self.pointer = verify_pointer(cached.envelope, trusted, channel)
                self.etag = cached.etag
            except SignatureError as exc:
                log.warning("the cached pointer of channel %s is not trusted (%s); ignoring it", channel, exc)

    @property
    def seen_sequence(self) -> int | None:
        return self.pointer.sequence if self.pointer else None

    def poll(self) -> ChannelPointer | None:
        """The channel's pointer when it changed since the last poll (None: unchanged). Raises
        SignatureError for a pointer that is forged, signed by an unknown key or older than one seen."""
        envelope, etag = self.api.get_channel(self.name, self.etag if self.pointer else None)
        if envelope is None:
            self.cache.confirm_pointer(self.name)
            return None
        pointer = verify_pointer(envelope, self.trusted, self.name, self.seen_sequence)
        self.cache.save_pointer(self.name, envelope, etag)
        changed = pointer != self.pointer
        self.pointer, self.etag = pointer, etag
        return pointer if changed else None

    def release(self, version: int) -> Release:
        """Release ``version``, verified: from the cache when it is there, else from the api (then cached)."""
        cached = self.cache.manifest(version)
        if cached is not None:
            try:
                return verify_release(cached, self.trusted, version)
            except SignatureError as exc:
                log.warning("the cached manifest of release %d is not trusted (%s); fetching it again", version, exc)
        envelope = self.api.get_release(version)
        release = verify_release(envelope, self.trusted, version)
        self.cache.save_manifest(version, envelope)
        return release


@dataclass(frozen=True)
class Start:
    release: Release
    offline: bool
    note: str


def start(channel: Channel) -> Start:
    """The release to start with: the channel's; when the api cannot be reached, the cached one."""
    try:
        channel.poll()
    except ApiNotFoundError:
        if channel.pointer is None:
            raise ApiNotFoundError(
                f"nothing is released on channel {channel.name} yet: train and publish a model first "
                "(`python -m trainer run`, or `python -m trainer release promote VERSION`)"
            ) from None
        log.warning("channel %s is gone from the api; running the cached release", channel.name)
    except ApiAuthError:
        raise
    except ApiError as exc:
        return _offline(channel, exc)
    if channel.pointer is None:
        raise ModelError(f"channel {channel.name} has no pointer")
    release = channel.release(channel.pointer.version)
    return Start(
        release, False, f"release {release.version} (channel {channel.name}, sequence {channel.seen_sequence})"
    )


def _offline(channel: Channel, why: Exception) -> Start:
    cached = channel.cache.pointer(channel.name)
    version = channel.cache.running() or (channel.pointer.version if channel.pointer else None)
    if version is None or cached is None or channel.cache.manifest(version) is None:
        raise ModelError(
            f"the api cannot be reached ({why}) and no release is cached here yet: this device needs the api once"
        ) from why
    release = channel.release(version)
    note = (
        f"the api cannot be reached ({why}); starting offline from the cache: release {release.version} "
        f"(created {release.created}, {_age_since_iso(release.created)} ago; channel {channel.name} last "
        f"confirmed {_age(time.time() - cached.confirmed_at)} ago)"
    )
    return Start(release, True, note)


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


def _age_since_iso(created: str) -> str:
    import datetime as dt

    try:
        then = dt.datetime.fromisoformat(created)
    except ValueError:
        return "an unknown time"
    return _age((dt.datetime.now(dt.timezone.utc) - then).total_seconds())  # noqa: UP017 - Python 3.10


class Updater:
    """Background polling, swapping and heartbeats for a running pipeline."""

    def __init__(self, channel: Channel, prepare, pipeline, version: int, options, backend_name: str):
        self.channel, self.prepare, self.pipeline = channel, prepare, pipeline
        self.options = options
        self.version = version
        self.previous: int | None = None
        self.backend_name = backend_name
        self.refused: dict[int, str] = {}  # version -> why (not tried again until the channel moves)
        self.last_error: str | None = None
        self.swaps: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fleet-updater", daemon=True)
        self._frames_at_beat = (0, time.perf_counter())

    def start(self) -> Updater:
        if self.options.poll_seconds or self.options.heartbeat_seconds:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        poll, beat = self.options.poll_seconds, self.options.heartbeat_seconds
        now = time.monotonic()
        next_poll = now + poll if poll else float("inf")
        next_beat = now if beat else float("inf")
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_beat:
                    self.heartbeat()
                    next_beat = now + beat
                if now >= next_poll:
                    self.check()
                    next_poll = time.monotonic() + poll
            except Exception as exc:  # never let the updater die: the video goes on with the model it has
                log.exception("the fleet updater failed (%s); it carries on", exc)
                self.last_error = f"updater: {exc}"[:500]
                next_poll = time.monotonic() + (poll or 60)
            self._stop.wait(min(3600.0, max(0.05, min(next_poll, next_beat) - time.monotonic())))

    def _error(self, message: str) -> None:
        self.last_error = message[:500]
        log.error("%s; still running release %d", message, self.version)

    def check(self) -> None:
        """One poll: follow the channel to a new release when there is one (each failure logged, survived)."""
        try:
            moved = self.channel.poll()
        except SignatureError as exc:
            self._error(f"channel {self.channel.name}: pointer refused: {exc}")
            return
        except ApiError as exc:
            log.warning("cannot poll channel %s (%s); trying again later", self.channel.name, exc)
            return
        if moved is not None:
            self.refused.pop(moved.version, None)  # the channel moved: a version refused before may be tried again
        pointer = self.channel.pointer
        if pointer is None or pointer.version == self.version or pointer.version in self.refused:
            return
        self.update(pointer.version)

    def update(self, version: int) -> bool:
        started = time.perf_counter()
        try:
            release = self.channel.release(version)
            model, backend = self.prepare(release)
        except ApiError as exc:
            log.warning("release %d could not be fetched yet (%s); trying again at the next poll", version, exc)
            return False
        except AzaionError as exc:  # a bad signature, hash, key or model: not tried again until the channel moves
            self.refused[version] = str(exc)
            self.channel.cache.drop(version)
            self._error(f"release {version} refused: {exc}")
            return False
        log.info(
            "release %d ready (%s, %s) in %.1f s; swapping it in between two frames",
            version,
            model.name,
            model.origin,
            time.perf_counter() - started,
        )
        self.pipeline.swap(backend, version)
        self.previous, self.version = self.version, version
        self.backend_name = backend.name
        self.last_error = None
        self.swaps.append({"version": version, "prepared_seconds": round(time.perf_counter() - started, 3)})
        self.channel.cache.save_running(version)
        self.channel.cache.keep_only({version, self.previous})
        return True

    def heartbeat(self) -> None:
        frames, at = self.pipeline.frames_done, time.perf_counter()
        before, then = self._frames_at_beat
        fps = (frames - before) / (at - then) if at > then else 0.0
        self._frames_at_beat = (frames, at)
        try:
            self.channel.api.heartbeat(
                self.options.name(), str(self.version), self.backend_name, round(fps, 2), self.last_error
            )
        except ApiError as exc:
            log.debug("heartbeat not delivered: %s", exc)
