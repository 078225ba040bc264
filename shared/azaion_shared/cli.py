"""What every service's ``python -m <service>`` shares: settings and logging, and uniform exit codes.

- 0: done;
- 1: an unexpected error (a bug): its traceback is printed;
- 2: bad configuration or input: one line says what and how to fix it (any ``AzaionError``, or an
  ``OSError`` such as a missing file);
- 130: interrupted (Ctrl-C).

A service may add its own (the trainer answers 3 when the promotion gate refuses a model).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic_settings import BaseSettings

from azaion_shared.errors import AzaionError
from azaion_shared.logs import setup_logging
from azaion_shared.settings import dotenv_file, ensure_root, load_settings

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

S = TypeVar("S", bound=BaseSettings)


def port(value: str) -> int:
    """An argparse ``type`` for a TCP port: a number from 1 to 65535, or argparse's one-line error."""
    import argparse

    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port: expected a number from 1 to 65535")
    return number


def port_free(host: str, port: int, how_to_change: str) -> None:
    """ConfigError unless ``port`` can be listened on at ``host`` now (before a server starts, whose own
    failure would be a log line and an exit status nobody documents)."""
    import socket

    from azaion_shared.errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): another process has the port; "
                f"choose another with {how_to_change}"
            ) from None


def add_version(parser, distribution: str) -> None:
    """``--version``: the installed package's version (``azaion-api 0.1.0``), and that of the shared library."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    shared = "" if distribution == "azaion-shared" else f", azaion-shared {of('azaion-shared')}"
    parser.add_argument("--version", action="version", version=f"{distribution} {of(distribution)}{shared}")


def positive(value: str) -> int:
    """An argparse ``type`` for a count: a whole number of at least 1, or argparse's one-line error."""
    import argparse

    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a count: expected a whole number of at least 1")
    return number


def file_to_write(suffix: str, example: Callable[[Path], str]):
    """An argparse ``type`` for a file to write: a path ending in ``suffix`` that is not a folder;
    ``example`` names the file the message suggests instead."""
    import argparse

    def check(value: str) -> Path:
        path = Path(value)
        if path.is_dir() or path.suffix.lower() != suffix:
            raise argparse.ArgumentTypeError(f"{value!r}: name the {suffix} file to write (e.g. {example(path)})")
        return path

    return check


#: a video to write
mp4_file = file_to_write(".mp4", lambda path: f"{path.name or 'out'}.mp4")
#: a model to write
onnx_file = file_to_write(".onnx", lambda path: f"{path.stem or 'model'}.onnx")


def service_settings(cls: type[S], root: str | None = None, unused: tuple[str, ...] = (), **overrides) -> S:
    """Build the service's settings from the environment (and ``./.env``), then set up logging as they
    say. ``root``: "owns" for the service that owns the data root (created when missing), "uses" for a
    command that works in it (see :func:`azaion_shared.settings.ensure_root`), None for one that does not.
    ``unused``: sections of the settings this command does not use (see :func:`load_settings`)."""
    import logging

    settings = load_settings(cls, unused=unused, **overrides)
    setup_logging(getattr(settings, "log_level", "INFO"), getattr(settings, "log_json", False))
    found = dotenv_file()
    logging.getLogger("azaion_shared.settings").debug(
        "settings from the environment%s", f" and {found}" if found else " (no .env in the working directory)"
    )
    if root is not None:
        ensure_root(settings, owner=root == "owns")
    return settings


def _said(exc: OSError) -> str:
    """An OSError as a person reads it: ``no such file or directory: /x/y`` rather than ``[Errno 2] ...``."""
    if exc.strerror and exc.filename:
        return f"{exc.strerror[0].lower()}{exc.strerror[1:]}: {exc.filename}"
    return str(exc)


def run_main(program: str, body: Callable[[], int | None]) -> int:
    """Run a service's main body and map how it ended to the exit statuses above."""
    try:
        status = body()
    except AzaionError as exc:
        print(f"{program}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"{program}: error: {_said(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc()
        print(f"{program}: unexpected error (a bug): please report it with the traceback above", file=sys.stderr)
        return EXIT_UNEXPECTED
    return EXIT_OK if status is None else int(status)
