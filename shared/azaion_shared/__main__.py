"""Operator commands of the shared library: ``python -m azaion_shared --help``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from azaion_shared.cli import run_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m azaion_shared",
        description="Model key and encrypted-model tools. The key is read from AZAION_MODEL_KEY "
        "(base64 of 32 bytes) or from the file named by AZAION_MODEL_KEY_FILE.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser("keygen", help="print a new model key (base64 of 32 random bytes)")
    keygen.add_argument("--out", type=Path, help="write it to this file (mode 0600) instead of printing it")
    for name, text in (("encrypt", "encrypt a model file"), ("decrypt", "verify and decrypt a model file")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("src", type=Path)
        cmd.add_argument("dst", type=Path)
    split = sub.add_parser("split", help="cut an encrypted model into SMALL (API) and BIG (CDN) parts")
    split.add_argument("encrypted", type=Path)
    split.add_argument("small", type=Path)
    split.add_argument("big", type=Path)
    join = sub.add_parser("join", help="put SMALL and BIG back together (sizes checked)")
    join.add_argument("small", type=Path)
    join.add_argument("big", type=Path)
    join.add_argument("out", type=Path)
    args = parser.parse_args(argv)

    return run_main("azaion_shared", lambda: _run(args))


def _run(args) -> None:
    from azaion_shared import crypto
    from azaion_shared import split as parts

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


if __name__ == "__main__":
    sys.exit(main())
