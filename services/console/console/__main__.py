"""``python -m console``: the operations console, a read-only web page over the whole pipeline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from azaion_shared.cli import add_version, port, port_free, run_main, service_settings

DESCRIPTION = """\
Serves the operations console at http://AZAION_CONSOLE__HOST:AZAION_CONSOLE__PORT/ (127.0.0.1:8090 by
default: reach it through an SSH tunnel, or bind it elsewhere on a trusted network).

It shows the stream's position and lag, the annotations waiting, validated, deleted and rejected,
augmentation done and pending with the replicas alive, the training runs (curves, plots, the gate,
the dataset), the current model and releases, and which device runs which version. It reads the data
root (AZAION_ROOT) and never writes to it; it reads each service's /metrics
(AZAION_CONSOLE__METRICS) and asks the api (AZAION_CONSOLE__API_URL). Log in with an Admin account of
the api.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m console", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_version(parser, "azaion-console")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"], help="serve the console (default)")
    parser.add_argument("--port", type=port, help="listen on this port instead of AZAION_CONSOLE__PORT (1-65535)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main("console", lambda: _serve(args))


def _serve(args) -> int:
    import uvicorn

    from console.app import create_app
    from console.settings import ConsoleSettings

    settings = service_settings(ConsoleSettings, root="uses")
    options = settings.console
    if args.port:
        options.port = args.port
    app = create_app(options, Path(settings.root))
    port_free(options.host, options.port, "--port or AZAION_CONSOLE__PORT")
    uvicorn.run(app, host=options.host, port=options.port, log_level=settings.log_level.lower(), access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
