"""``python -m api``: serve the API, or manage its users.

python -m api serve                       # listen on AZAION_API__HOST:AZAION_API__PORT
python -m api users add EMAIL --role Device [--password-stdin]
python -m api users list
python -m api users remove EMAIL
python -m api devices list | forget NAME
python -m api trust online-key | root ROOT.json | status
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from azaion_shared.cli import add_version, port, port_free, run_main, service_settings
from azaion_shared.roles import Role


def build_parser() -> argparse.ArgumentParser:
    roles = ", ".join(r.value for r in Role)
    parser = argparse.ArgumentParser(
        prog="python -m api",
        description="Azaion api service: JWT login and the store for the small model parts. "
        "Configured from AZAION_* variables (AZAION_API__JWT_SECRET, AZAION_API__DB_PATH, AZAION_ROOT, ...).",
    )
    add_version(parser, "azaion-api")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the HTTP server (the default)")
    serve.add_argument("--host", help="override AZAION_API__HOST")
    serve.add_argument("--port", type=port, help="override AZAION_API__PORT (1-65535)")
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help=f"add a user with a role ({roles})")
    add.add_argument("email")
    add.add_argument("--role", required=True, help=roles)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.add_parser("list", help="list users and roles")
    passwd = users.add_parser("passwd", help="set a new password (tokens issued before stop working at once)")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    role = users.add_parser("role", help=f"change a user's role ({roles}; tokens issued before stop working)")
    role.add_argument("email")
    role.add_argument("role", help=roles)
    remove = users.add_parser("remove", help="remove a user (their tokens stop working at once)")
    remove.add_argument("email")
    devices = sub.add_parser("devices", help="the device inventory").add_subparsers(
        dest="devices_command", required=True
    )
    listing = devices.add_parser("list", help="every device: the version it runs, its backend, when last seen")
    listing.add_argument("--version", help="only the devices running this model version")
    forget = devices.add_parser("forget", help="drop a device's row, so that another Device account may claim the name")
    forget.add_argument("name")
    trust = sub.add_parser(
        "trust",
        help="the fleet's TUF repository: the api's online key, installing a root, what is signed",
        description="The offline root names the keys of every role (python -m azaion_shared root --help). The "
        "api holds the online key that re-signs snapshot and timestamp; it stores the root you install here "
        "after checking it (the next version, signed by a threshold of the old root's keys and of its own).",
    ).add_subparsers(dest="trust_command", required=True)
    trust.add_parser("online-key", help="make the api's online key once; print its public key file for the root")
    install = trust.add_parser("root", help="install a root signed at the offline ceremony (first or next version)")
    install.add_argument("file", type=Path)
    trust.add_parser("status", help="the root, targets, snapshot and timestamp the api serves, and their expiry")
    return parser


def _read_password(from_stdin: bool) -> str:
    from api.errors import UserError

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():  # `docker compose exec -T`, a provisioning script: nobody to ask
        raise UserError("no terminal to ask the password on: pipe it in with --password-stdin")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("error: the passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    return run_main("api", lambda: _run(build_parser().parse_args(argv)))


def _run(args) -> int:
    from api.errors import UserError
    from api.settings import ApiSettings
    from api.users import UserStore

    settings = service_settings(ApiSettings, root="uses" if args.command in ("users", "devices", "trust") else "owns")
    if args.command == "devices":
        return _devices(args, settings)
    if args.command == "trust":
        return _trust(args, settings)
    if args.command == "users":
        store = UserStore(settings.db_file())
        if args.users_command == "add":
            role = Role.parse(args.role)
            user = store.add(args.email, _read_password(args.password_stdin), role)
            print(f"added {user.email} ({user.role.value})")
        elif args.users_command == "passwd":
            if store.get(args.email) is None:  # said before a password is asked for
                raise UserError(f"no user {args.email}")
            store.set_password(args.email, _read_password(args.password_stdin))
            print(f"new password for {args.email}; its earlier tokens no longer work")
        elif args.users_command == "role":
            new_role = Role.parse(args.role)
            store.set_role(args.email, new_role)
            print(f"{args.email} is now {new_role.value}; its earlier tokens no longer work")
        elif args.users_command == "list":
            for user in store.list():
                print(f"{user.email}\t{user.role.value}\t{user.created_at}")
        else:
            store.remove(args.email)
            print(f"removed {args.email}")
        return 0
    import uvicorn

    from api.app import create_app

    app = create_app(settings)
    _check_database(app.state.services, settings)
    tls = settings.tls_files()
    host, port_number = (
        getattr(args, "host", None) or settings.api.host,
        getattr(args, "port", None) or settings.api.port,
    )
    port_free(host, port_number, "--port or AZAION_API__PORT")
    uvicorn.run(
        app,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
        host=host,
        port=port_number,
        log_config=None,
        proxy_headers=False,  # X-Forwarded-For is believed only from AZAION_API__TRUSTED_PROXIES (api.app)
    )
    return 0


def _devices(args, settings) -> int:
    from datetime import timedelta

    from api.devices import DeviceStore
    from api.errors import UserError

    store = DeviceStore(settings.db_file())
    if args.devices_command == "forget":
        if not store.forget(args.name):
            raise UserError(f"no device {args.name!r}: `python -m api devices list` shows the names")
        print(f"forgot {args.name}; the next account to report it owns the name")
        return 0
    found = store.list(args.version, fresh_for=timedelta(hours=settings.api.tuf_expiry_hours))
    print("name\tversion\tbackend\tfps\tlast seen (UTC)\tconfirmed fresh (UTC)\tuser\tstale\tlast error")
    for d in found:
        fps = f"{d.fps:.1f}" if d.fps is not None else "-"
        print(
            f"{d.name}\t{d.version or '-'}\t{d.backend or '-'}\t{fps}\t{d.seen_at}\t{d.confirmed_at or '-'}\t"
            f"{d.user}\t{('STALE: ' + d.stale) if d.stale else 'ok'}\t{d.last_error or ''}"
        )
    stale = sum(1 for d in found if d.stale)
    print(
        f"{len(found)} device(s)"
        + (f" running version {args.version}" if args.version else "")
        + (f", {stale} stale" if stale else "")
    )
    return 0


def _trust(args, settings) -> int:
    store = settings.trust_store()
    if args.trust_command == "online-key":
        public = store.ensure_online_key()
        print(f"the api's online key: {store.online_key} (stays here); give {public} to the root ceremony")
    elif args.trust_command == "root":
        store.ensure_online_key()
        print(f"installed {store.install_root(args.file.read_bytes())}")
    else:
        for line in store.status():
            print(line)
    return 0


def _check_database(services, settings) -> None:
    """Refuse to start on a database that cannot be used, rather than answer every login with 500."""
    import sqlite3

    from azaion_shared.errors import ConfigError

    try:
        services.users.list()
        services.devices.list()
    except (sqlite3.Error, OSError) as exc:
        raise ConfigError(
            f"the api's database {settings.db_file()} cannot be used ({exc}): set AZAION_API__DB_PATH to a "
            "writable file, or AZAION_ROOT to a writable folder"
        ) from exc


if __name__ == "__main__":
    sys.exit(main())
