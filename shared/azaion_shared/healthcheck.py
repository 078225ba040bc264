"""``python -m azaion_shared.healthcheck URL``: exit 0 when URL answers 200 (container healthchecks).

Images carry no curl; this needs nothing beyond the standard library.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else "http://127.0.0.1:8000/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
