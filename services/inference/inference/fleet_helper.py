"""The fleet's work in a process of its own, so that a swap does not stall the video.

A running device polls its channel (a TUF refresh: JSON and signatures), sends heartbeats, downloads a
new release's parts, checks their hashes and decrypts them. Done in a thread of the device's process,
all of that is Python that shares the GIL with the frames' threads, and a low CPU priority does not
help: the scheduler stops a nice-19 thread while it holds the GIL, and the frames wait (measured: the
longest frame gaps of a swap came with it). Here it runs in a helper process at the lowest priority;
the device process keeps what must live in it: the pipeline, its backend and the swap. The plaintext of
a model crosses in an anonymous memory file (RAM only), its descriptor passed over a Unix socket.

- :class:`Helper` starts ``python -m inference.fleet_helper`` with one end of a socket pair, hands it a
  :class:`Recipe` (what it needs to reach the api and the cache), and asks it one thing at a time; an
  error arrives as it was raised there (the shared error tree). A helper that died is started again at
  the next call; until then a call raises :class:`HelperGone` (an :class:`ApiError`: the updater tries
  again at the next poll, and refuses no release for it).
- :class:`RemoteChannel` and :class:`RemoteStore` are what :class:`~inference.fleet.Updater` and the
  backends use on a running device: the interface of :class:`~inference.fleet.Channel` and
  :class:`~inference.store.ReleaseStore`, their network and crypto work done in the helper.

Linux only (memfd, SCM_RIGHTS); elsewhere (:data:`AVAILABLE` False) a device does this work in a
thread of its own process, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from azaion_shared import memfile
from azaion_shared.api_client import ApiClientSettings
from azaion_shared.errors import AzaionError
from azaion_shared.releases import Artifact, ChannelPointer, Release
from inference.errors import HelperGone
from inference.priority import LOWEST_PRIORITY
from inference.store import ReleaseStore

log = logging.getLogger(__name__)

AVAILABLE = memfile.AVAILABLE and hasattr(socket, "send_fds") and hasattr(socket, "SOCK_SEQPACKET")
#: the largest message either side sends (a pointer, a release manifest, an error: a few KiB)
MESSAGE_BYTES = 1 << 20


@dataclass(frozen=True)
class Recipe:
    """What the helper builds its api client, trust client, cache and store from."""

    api: ApiClientSettings
    token: str | None  # the device's session: the helper does not log in again
    key: bytes
    cache: Path
    options: object  # InferenceOptions: the channel, the device's name, the trusted root
    log_level: str = "INFO"
    log_json: bool = False


# --- the wire: one pickled message per packet, descriptors beside it ---------------------------------
def _send(sock: socket.socket, message, fds: list[int] | tuple[int, ...] = ()) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > MESSAGE_BYTES:
        raise AzaionError(f"a message to or from the fleet helper of {len(data)} bytes (at most {MESSAGE_BYTES})")
    socket.send_fds(sock, [data], list(fds))


def _recv(sock: socket.socket) -> tuple[object, list[int]]:
    data, fds, flags, _ = socket.recv_fds(sock, MESSAGE_BYTES, 4)
    if not data and not fds:
        raise EOFError("the other side closed the socket")
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            os.close(fd)
        raise AzaionError("a message from the fleet helper was cut short")
    return pickle.loads(data), fds


def _portable(exc: BaseException) -> BaseException:
    """``exc`` as it can cross to the device: ours travel as raised, anything else as its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return AzaionError(f"{type(exc).__name__}: {exc}")


# --- the device's side ---------------------------------------------------------------------------------
class Helper:
    """The helper process, seen from the device: :meth:`call` one operation at a time, from any thread."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        self.process: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.starts = 0

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            command = [sys.executable, "-m", "inference.fleet_helper", str(theirs.fileno())]
            self.process = subprocess.Popen(
                command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )  # its log lines go to the device's standard error
        except OSError as exc:
            ours.close()
            raise HelperGone(f"cannot start the fleet helper process: {exc}") from exc
        finally:
            theirs.close()
        with contextlib.suppress(OSError):  # it lowers its own priority first thing too; this covers its start-up
            os.setpriority(os.PRIO_PROCESS, self.process.pid, LOWEST_PRIORITY)
        self._sock = ours
        self.starts += 1
        _send(ours, self.recipe)

    def call(self, operation: str, *args) -> tuple[object, list[int]]:
        """The helper's answer to ``operation(*args)`` and the descriptors it sent (the caller closes
        them); its error raised here as it was raised there."""
        with self._lock:
            try:
                if self._sock is None:
                    self._start()
                _send(self._sock, (operation, args))
                (ok, value), fds = _recv(self._sock)
            except (OSError, EOFError) as exc:
                why = self._lost()
                raise HelperGone(f"the fleet helper process {why} ({exc}); it starts again at the next call") from exc
        if not ok:
            raise value
        return value, fds

    def _lost(self) -> str:
        """Forget a helper that stopped answering; what became of it."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        process, self.process = self.process, None
        if process is None:
            return "did not start"
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        return f"ended (exit status {code})"

    def close(self) -> None:
        """End the helper: it leaves when its socket closes."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            if self.process is not None:
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
                self.process = None


class RemoteApi:
    """The one api call a running device makes itself: its heartbeat, sent by the helper."""

    def __init__(self, helper: Helper):
        self.helper = helper

    def heartbeat(self, *beat) -> None:
        self.helper.call("heartbeat", *beat)


class RemoteChannel:
    """A :class:`~inference.fleet.Channel` whose polls and manifests are the helper's; it starts from the
    state of the device's own channel (the pointer it started with)."""

    def __init__(self, helper: Helper, local):
        self.helper, self.name, self.device, self.cache = helper, local.name, local.device, local.cache
        self.pointer: ChannelPointer | None = local.pointer
        self.api = RemoteApi(helper)
        self._confirmed = local.confirmed_at

    @property
    def confirmed_at(self) -> float | None:
        return self._confirmed

    @property
    def version(self) -> int | None:
        return self.pointer.version_for(self.device) if self.pointer else None

    def poll(self) -> ChannelPointer | None:
        (moved, self.pointer, self._confirmed), _ = self.helper.call("poll")
        return moved

    def release(self, version: int) -> Release:
        release, _ = self.helper.call("release", version)
        return release


class RemoteStore(ReleaseStore):
    """A :class:`~inference.store.ReleaseStore` whose parts are fetched, checked and decrypted by the
    helper (:meth:`model` reads the plaintext at the lowest priority, as it does the store's own); what a
    backend builds here is kept by this process as before (:meth:`keep`, :meth:`kept`)."""

    def __init__(self, helper: Helper, local: ReleaseStore):
        super().__init__(local.key, local.api, local.cache)
        self.helper = helper

    def plaintext(self, release: Release, artifact: Artifact) -> bytes:
        size, fds = self.helper.call("plaintext", release, artifact)
        try:  # one read: the kernel's copy, without the GIL
            return memfile.read_all(fds[0], size)
        finally:
            for fd in fds:
                os.close(fd)


def follow(recipe: Recipe, channel, store: ReleaseStore) -> tuple[Helper, RemoteChannel, RemoteStore]:
    """The helper and the channel and store a running device uses through it."""
    helper = Helper(recipe)
    return helper, RemoteChannel(helper, channel), RemoteStore(helper, store)


# --- the helper's side -------------------------------------------------------------------------------
class Work:
    """The operations a helper carries out, on the api, the trust client and the cache."""

    def __init__(self, recipe: Recipe):
        from inference.fleet import Channel
        from inference.release_cache import ReleaseCache

        options = recipe.options
        self.api = recipe.api.client(token=recipe.token)
        cache = ReleaseCache(recipe.cache)
        self.store = ReleaseStore(recipe.key, self.api, cache)
        self.channel = Channel(options.trust_client(self.api, cache.folder), options.channel, options.name(), cache)

    def close(self) -> None:
        self.api.close()

    def do(self, operation: str, args: tuple) -> tuple[object, list[int]]:
        if operation == "poll":
            moved = self.channel.poll()
            return (moved, self.channel.pointer, self.channel.confirmed_at), []
        if operation == "release":
            return self.channel.release(*args), []
        if operation == "plaintext":  # the memory file it was decrypted into and checked in
            fd = self.store.plaintext_file(*args)
            return os.fstat(fd).st_size, [fd]
        if operation == "heartbeat":
            return self.api.heartbeat(*args), []
        raise AzaionError(f"the fleet helper has no operation {operation!r}")


def serve(sock: socket.socket) -> int:
    """Answer the device until it closes the socket."""
    from azaion_shared.logs import setup_logging

    recipe, _ = _recv(sock)
    setup_logging(recipe.log_level, recipe.log_json)
    work = Work(recipe)
    try:
        while True:
            try:
                (operation, args), _ = _recv(sock)
            except EOFError:
                return 0
            fds: list[int] = []
            try:
                value, fds = work.do(operation, args)
                reply = (True, value)
            except Exception as exc:  # the device decides what it means; this process carries on
                log.debug("fleet helper: %s failed", operation, exc_info=True)
                reply = (False, _portable(exc))
            try:
                _send(sock, reply, fds)
            finally:
                for fd in fds:
                    os.close(fd)
    finally:
        work.close()


def main(argv: list[str] | None = None) -> int:
    os.setpriority(os.PRIO_PROCESS, 0, LOWEST_PRIORITY)  # the CPU the frames leave, from the first instruction
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the device's: it ends, and this process with it
    argv = sys.argv[1:] if argv is None else argv
    with socket.socket(fileno=int(argv[0])) as sock:
        try:
            return serve(sock)
        except (EOFError, BrokenPipeError, ConnectionResetError):
            return 0  # the device went away


if __name__ == "__main__":
    sys.exit(main())
