"""``python -m azaion_shared.healthcheck URL``: exit 0 when URL answers 200 (container healthchecks).

Images carry no curl; this needs nothing beyond the standard library. When the container serves
HTTPS (``AZAION_API__TLS_CERT`` is set) a loopback ``http://`` URL is asked over HTTPS instead, without
verifying the certificate: the check talks to its own container.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else "http://127.0.0.1:8000/healthz"
    context = None
    if os.environ.get("AZAION_API__TLS_CERT") and url.startswith(("http://127.0.0.1", "http://localhost")):
        url = "https://" + url[len("http://") :]
        context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
