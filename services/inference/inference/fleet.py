"""The device's side of releases: follow a channel, verify, fetch, swap; start offline from the cache.

- :class:`Channel` reads the fleet's TUF repository through :class:`~azaion_shared.tuf_client.TrustClient`
  (python-tuf's ngclient): expired, under-signed, rolled-back or inconsistent metadata is refused; the
  channel pointer and release manifests are read only as the signed targets name them. It remembers
  when the metadata was last confirmed fresh; every heartbeat carries that time and the error, if any.
- :func:`start` picks the release to run at start: the channel's, or, when the api cannot be reached or
  serves what does not verify (stale, older, forged), the verified release in the cache, saying why.
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
from azaion_shared.errors import (
    ApiAuthError,
    ApiError,
    ApiNotFoundError,
    AzaionError,
    SignatureError,
)
from azaion_shared.releases import ChannelPointer, Release, iso_at, parse_pointer, parse_release
from azaion_shared.tuf_repository import channel_target, release_target
from inference.errors import ModelError
from inference.priority import at_lowest_priority, short_gil_turns
from inference.release_cache import ReleaseCache

log = logging.getLogger(__name__)


class Channel:
    def __init__(self, trust, channel: str, device: str, cache: ReleaseCache, api: ApiClient | None = None):
        self.trust, self.name, self.device, self.cache, self.api = trust, channel, device, cache, api
        self._refreshed = None  # the repository as verified by the last successful poll
        self.pointer: ChannelPointer | None = None
        cached = trust.cached(channel_target(channel))
        if cached is not None:
            try:
                self.pointer = parse_pointer(cached, channel)
            except SignatureError as exc:
                log.warning("the cached pointer of channel %s does not read (%s); ignoring it", channel, exc)

    @property
    def confirmed_at(self) -> float | None:
        """When the fleet's metadata was last confirmed fresh (epoch seconds)."""
        return self.trust.last_confirmed()

    @property
    def version(self) -> int | None:
        """The release this device should run under the channel's pointer (staged rollouts included)."""
        return self.pointer.version_for(self.device) if self.pointer else None

    def poll(self) -> ChannelPointer | None:
        """The channel's pointer when it changed since the last poll (None: unchanged). Raises
        StaleMetadataError (expired: a freeze), SignatureError (anything else that does not verify),
        ApiNotFoundError (nothing released on this channel) or ApiError (unreachable)."""
        refreshed = self.trust.refresh()
        data = refreshed.read(channel_target(self.name))
        self._refreshed = refreshed
        if data is None:
            raise ApiNotFoundError(f"nothing is released on channel {self.name}", 404)
        pointer = parse_pointer(data, self.name)
        changed = pointer != self.pointer
        self.pointer = pointer
        return pointer if changed else None

    def release(self, version: int) -> Release:
        """Release ``version`` as the signed targets name it: as verified by the last poll, or, offline,
        as verified before (the cached target, its hash checked against the trusted targets again)."""
        path = release_target(version)
        data = self._refreshed.read(path) if self._refreshed is not None else self.trust.cached(path)
        if data is None:
            raise SignatureError(f"release {version} is not in the fleet's signed targets (pruned, or never released)")
        return parse_release(data, version)


@dataclass(frozen=True)
class Start:
    release: Release
    offline: bool
    note: str
    error: str | None = None  # why it started from the cache (reported in every heartbeat until it clears)


def start(channel: Channel) -> Start:
    """The release to start with: the channel's; when the api cannot be reached or serves metadata that
    does not verify (expired, older than seen, forged), the verified release in the cache."""
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
    except (ApiError, SignatureError) as exc:
        return _offline(channel, exc)
    if channel.version is None:
        raise ModelError(f"channel {channel.name} has no pointer")
    release = channel.release(channel.version)
    return Start(release, False, f"release {release.version} (channel {channel.name}: {_share(channel)})")


def _share(channel: Channel) -> str:
    pointer = channel.pointer
    if pointer is None or pointer.previous is None or pointer.fraction >= 1.0:
        return "the whole fleet"
    return f"a rollout of release {pointer.version} to {pointer.fraction:.0%}; this device is on {channel.version}"


def _offline(channel: Channel, why: Exception) -> Start:
    reason = f"the api cannot be reached ({why})" if not isinstance(why, SignatureError) else f"refused: {why}"
    version = channel.cache.running() or channel.version
    if version is None:
        raise ModelError(f"{reason}, and no release is cached here yet: this device needs the api once") from why
    log.warning("%s; trying the release in the cache, %d", reason, version)
    release = channel.release(version)  # SignatureError when the cached one does not verify either
    confirmed = channel.confirmed_at
    note = (
        f"{reason}; starting from the cache: release {release.version} (created {release.created}, "
        f"{_age_since_iso(release.created)} ago; channel {channel.name} last confirmed fresh "
        f"{_age(time.time() - confirmed) + ' ago' if confirmed else 'never'})"
    )
    return Start(release, True, note, error=f"{reason}"[:500])


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
        self.last_error: str | None = None  # a release refused, or the updater's own failure
        self.channel_error: str | None = None  # the last poll's failure (cleared by a poll that verifies)
        self.swaps: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fleet-updater", daemon=True)
        self._frames_at_beat = (0, time.perf_counter())

    def start(self) -> Updater:
        if self.options.poll_seconds or self.options.heartbeat_seconds:
            short_gil_turns()  # this thread's Python work must not keep the frames' threads waiting
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
            moved = at_lowest_priority(self.channel.poll)  # verifying metadata: the CPU the frames leave
        except SignatureError as exc:  # expired (a freeze), rolled back, forged, inconsistent
            self.channel_error = f"channel {self.channel.name}: metadata refused: {exc}"[:500]
            log.error("%s; still running release %d", self.channel_error, self.version)
            return
        except ApiError as exc:
            self.channel_error = f"cannot poll channel {self.channel.name}: {exc}"[:500]
            log.warning("%s; trying again later", self.channel_error)
            return
        self.channel_error = None
        if moved is not None:
            self.refused.pop(self.channel.version, None)  # the channel moved: a version refused may be tried again
        version = self.channel.version
        if version is None or version == self.version or version in self.refused:
            return
        self.update(version)

    def update(self, version: int) -> bool:
        started = time.perf_counter()
        try:
            release = at_lowest_priority(lambda: self.channel.release(version))
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

    def error(self) -> str | None:
        """What the heartbeat reports: the channel's trouble first (it hides every later release), then a
        refused release."""
        return self.channel_error or self.last_error

    def heartbeat(self) -> None:
        frames, at = self.pipeline.frames_done, time.perf_counter()
        before, then = self._frames_at_beat
        fps = (frames - before) / (at - then) if at > then else 0.0
        self._frames_at_beat = (frames, at)
        confirmed = self.channel.confirmed_at
        beat = (
            self.options.name(),
            str(self.version),
            self.backend_name,
            round(fps, 2),
            self.error(),
            iso_at(confirmed) if confirmed is not None else None,
        )
        try:
            at_lowest_priority(lambda: self.channel.api.heartbeat(*beat))
        except ApiError as exc:
            log.debug("heartbeat not delivered: %s", exc)
