"""Operator commands of the shared library: ``python -m azaion_shared --help``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from azaion_shared.cli import add_version, positive, run_main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m azaion_shared",
        description="Model key, encrypted-model, TLS and fleet-trust (root) tools. The model key is read from "
        "AZAION_MODEL_KEY "
        "(base64 of 32 bytes) or from the file named by AZAION_MODEL_KEY_FILE.",
    )
    add_version(parser, "azaion-shared")
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser(
        "keygen",
        help="print a new model key (base64 of 32 random bytes), or with --signing make the publisher's "
        "Ed25519 key pair",
    )
    keygen.add_argument(
        "--out", type=Path, help="write the model key to this file (0600); with --signing: the folder (default .)"
    )
    keygen.add_argument(
        "--signing",
        action="store_true",
        help="make an Ed25519 pair NAME.key (0600, never leaves where it signs) and NAME.pub (for the root)",
    )
    keygen.add_argument(
        "--name",
        default="publisher",
        help="with --signing: the pair's file name (publisher: the trainer's targets key; root-1, root-2 ...: "
        "offline root keys; default publisher)",
    )
    _root_parser(sub)
    for name, text in (("encrypt", "encrypt a model file"), ("decrypt", "verify and decrypt a model file")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("src", type=Path, help="the file to read")
        cmd.add_argument("dst", type=Path, help="the file to write (replaced only once it is whole)")
    split = sub.add_parser("split", help="cut an encrypted model into SMALL (API) and BIG (CDN) parts")
    split.add_argument("encrypted", type=Path, help="an encrypted model (python -m azaion_shared encrypt)")
    split.add_argument("small", type=Path, help="where to write the small part (for the api)")
    split.add_argument("big", type=Path, help="where to write the big part (for the CDN)")
    join = sub.add_parser("join", help="put SMALL and BIG back together (sizes checked)")
    join.add_argument("small", type=Path, help="the small part")
    join.add_argument("big", type=Path, help="the big part")
    join.add_argument("out", type=Path, help="where to write the encrypted model they make together")
    tls = sub.add_parser(
        "tls",
        help="make a private CA and server certificates for a site without one (ca.crt goes to every client)",
        description="Writes OUT/ca.crt and ca.key (kept and reused when present) and OUT/NAME.crt and NAME.key "
        "for each server. Default servers: api (api, localhost, 127.0.0.1) and minio (minio, localhost, 127.0.0.1); "
        "add the names and addresses clients use with --host.",
    )
    tls.add_argument("--out", type=Path, default=Path("certs"), help="the folder (default: certs)")
    tls.add_argument(
        "--server",
        action="append",
        metavar="NAME=HOST[,HOST...]",
        help="a server and the DNS names or IP addresses it is reached by (replaces the defaults)",
    )
    tls.add_argument("--host", action="append", default=[], help="one more name or address for every server")
    tls.add_argument("--days", type=positive, default=825, help="validity in days (default 825)")
    tls.add_argument("--owner", type=int, help="chown the server keys to this uid (the images run as 10001)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main("azaion_shared", lambda: _run(args))


def _run(args) -> None:
    from azaion_shared import crypto
    from azaion_shared import split as parts

    if args.command == "tls":
        _tls(args)
        return
    if args.command == "root":
        _root(args)
        return

    if args.command == "keygen" and args.signing:
        from azaion_shared import signing

        pair = signing.generate(args.out or Path("."), args.name)
        print(
            f"signing key {pair.private} (keep it where it signs, offline for a root key) and public key {pair.public}"
        )
        return
    if args.command == "keygen":
        key = crypto.generate_key()
        if args.out:
            import os

            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(fd, "w") as fh:
                fh.write(key + "\n")
            print(f"wrote a new model key to {args.out}; point AZAION_MODEL_KEY_FILE at it", file=sys.stderr)
        else:
            print(key)
    elif args.command == "encrypt":
        size = crypto.encrypt_file(args.src, args.dst, crypto.load_key())
        print(f"encrypted {args.src} -> {args.dst} ({size} bytes)")
    elif args.command == "decrypt":
        size = crypto.decrypt_file(args.src, args.dst, crypto.load_key())
        print(f"verified and decrypted {args.src} -> {args.dst} ({size} bytes)")
    elif args.command == "split":
        small, big = parts.split_file(args.encrypted, args.small, args.big)
        print(f"small part {small} bytes -> {args.small}; big part {big} bytes -> {args.big}")
    elif args.command == "join":
        parts.join_files(args.small.read_bytes(), args.big, args.out)
        print(f"joined -> {args.out}")


def _root_parser(sub) -> None:
    root = sub.add_parser(
        "root",
        help="the fleet's offline root (TUF): make, sign and check root.json",
        description="The root names the keys of every role: the offline root keys with a threshold, the "
        "publisher's targets key (the trainer) and the api's online key (`python -m api trust online-key`). "
        "Make it on an offline machine, have a threshold of root key holders sign it, install it with "
        "`python -m api trust root root.json`, and give the first root.json to every device "
        "(AZAION_INFERENCE__TRUSTED_ROOT) and to the trainer (AZAION_TRAINER__TRUSTED_ROOT). To rotate any key, "
        "make the next root with --previous and have a threshold of the old and of the new root keys sign it.",
    ).add_subparsers(dest="root_command", required=True)
    new = root.add_parser("new", help="write an unsigned root (version 1, or the one after --previous)")
    new.add_argument("--out", type=Path, required=True, help="the root file to write")
    new.add_argument("--root-key", type=Path, action="append", required=True, help="an offline root public key")
    new.add_argument("--threshold", type=int, default=None, help="root keys needed (default: a majority)")
    new.add_argument("--targets-key", type=Path, action="append", required=True, help="the publisher's public key")
    new.add_argument("--online-key", type=Path, required=True, help="the api's online public key")
    new.add_argument("--expires-days", type=float, default=365.0, help="the root's lifetime (default 365)")
    new.add_argument("--previous", type=Path, help="the root this one replaces (rotation)")
    sign = root.add_parser("sign", help="add one root key's signature to a root file")
    sign.add_argument("file", type=Path)
    sign.add_argument("--key", type=Path, required=True, help="an offline root private key")
    verify = root.add_parser("verify", help="check a root's signatures (against --previous for a rotation)")
    verify.add_argument("file", type=Path)
    verify.add_argument("--previous", type=Path, help="the root it replaces: check that one's keys signed it too")


def _root(args) -> None:
    from azaion_shared import tuf_repository as tuf
    from azaion_shared.atomic import atomic_write_bytes

    if args.root_command == "new":
        root_keys = [tuf.public_key(p) for p in args.root_key]
        threshold = args.threshold or len(root_keys) // 2 + 1
        previous = tuf.load(args.previous.read_bytes(), tuf.ROOT) if args.previous else None
        root = tuf.new_root(
            root_keys,
            threshold,
            [tuf.public_key(p) for p in args.targets_key],
            [tuf.public_key(args.online_key)],
            expires_days=args.expires_days,
            previous=previous,
        )
        atomic_write_bytes(args.out, tuf.to_bytes(root))
        print(
            f"wrote root version {root.signed.version} to {args.out}: {threshold} of {len(root_keys)} root keys must "
            "sign it" + (" (and a threshold of the previous root's)" if previous else "")
        )
    elif args.root_command == "sign":
        root = tuf.load(args.file.read_bytes(), tuf.ROOT)
        root.sign(tuf.signer(args.key), append=True)
        atomic_write_bytes(args.file, tuf.to_bytes(root))
        print(f"{args.file}: {len(root.signatures)} signature(s)")
    else:
        root = tuf.load(args.file.read_bytes(), tuf.ROOT)
        previous = tuf.load(args.previous.read_bytes(), tuf.ROOT) if args.previous else None
        print(tuf.check_root(root, previous))


def _tls(args) -> None:
    import os

    from azaion_shared.errors import ConfigError
    from azaion_shared.tls import make_site_certificates

    servers = {"api": ["api", "localhost", "127.0.0.1"], "minio": ["minio", "localhost", "127.0.0.1"]}
    if args.server:
        servers = {}
        for item in args.server:
            name, _, hosts = item.partition("=")
            if not name or not hosts:
                raise ConfigError(f"--server {item!r}: expected NAME=HOST[,HOST...], for example api=api,10.0.0.5")
            servers[name] = [h.strip() for h in hosts.split(",") if h.strip()]
    for hosts in servers.values():
        hosts.extend(h for h in args.host if h not in hosts)
    for issued in make_site_certificates(args.out, servers, args.days):
        if args.owner is not None:
            os.chown(issued.key, args.owner, -1)
        print(f"{issued.name}: {issued.cert} and {issued.key} for {', '.join(servers[issued.name])}")
    print(f"CA: {args.out / 'ca.crt'} (give it to every client; keep {args.out / 'ca.key'} safe and offline)")


if __name__ == "__main__":
    sys.exit(main())
