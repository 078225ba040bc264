"""Logging set-up: readable lines by default, one JSON object per line when asked."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone

_UTC = timezone.utc  # noqa: UP017 - datetime.UTC is 3.11+, and the jetson image runs Python 3.10

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra={...}`` fields are kept as keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, _UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

#: Client libraries whose own records are noise to an operator: during a broker restart they log
#: tracebacks and retries that our code already reports as one line with the cause. Their records
#: are shown only with AZAION_LOG_LEVEL=DEBUG (rstream logs through the root logger, hence paths).
LIBRARY_LOGGERS = ("aiormq", "aio_pika", "pamqp", "rstream")
LIBRARY_PATHS = tuple(f"{os.sep}{name}{os.sep}" for name in ("rstream", "aiormq", "aio_pika", "pamqp"))


class LibraryNoiseFilter(logging.Filter):
    """Demote the broker client libraries' records to DEBUG (kept only when the handler shows DEBUG)."""

    def __init__(self, show_debug: bool):
        super().__init__()
        self.show_debug = show_debug

    def filter(self, record: logging.LogRecord) -> bool:
        from_library = record.name.split(".", 1)[0] in LIBRARY_LOGGERS or any(
            part in record.pathname for part in LIBRARY_PATHS
        )
        if not from_library or record.levelno >= logging.CRITICAL:
            return True
        if not self.show_debug:
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def setup_logging(level: str = "INFO", json_lines: bool = False, stream=None) -> None:
    """Configure the root logger once for a process (call it from ``main()``)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    try:
        root.setLevel(level.upper())
    except ValueError:
        root.setLevel(logging.INFO)
        root.warning("unknown log level %r, using INFO", level)
    handler.addFilter(LibraryNoiseFilter(show_debug=root.level <= logging.DEBUG))
    # Libraries that are chatty at INFO.
    for noisy in ("botocore", "urllib3", "s3transfer", "httpx", "httpcore", "tuf", "securesystemslib"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
