"""Model encryption: our streaming encrypt-then-MAC against `openssl speed` on this CPU.

The ceiling of one encrypt-then-MAC stream is 1 / (1/cbc + 1/hmac) of openssl's
single-stream rates. We measure file to file (read, cipher, MAC, write, fsync),
512 MB, best of 2, each run in a child process so that its peak RSS is its own.
Goals (issue 5): each direction >= 0.7 x its ceiling; peak RSS < 100 MB.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from common import Row

SIZE_MB = int(os.environ.get("BENCH_CRYPTO_MB", "512"))

# Peak RSS from VmHWM (this process's own memory map): ru_maxrss would also count the parent's
# peak, which Linux carries across fork and exec.
CHILD = r"""
import json, os, sys, time
from azaion_shared import crypto
mode, src, dst, key = sys.argv[1], sys.argv[2], sys.argv[3], bytes.fromhex(sys.argv[4])
start = time.perf_counter()
(crypto.encrypt_file if mode == "encrypt" else crypto.decrypt_file)(src, dst, key)
elapsed = time.perf_counter() - start
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "maxrss_mb": int(hwm.split()[1]) / 1024}))
"""


def openssl_rate(*args: str) -> float:
    """MB/s (1e6 bytes) for 1 MiB blocks, from `openssl speed`."""
    out = subprocess.run(
        ["openssl", "speed", "-seconds", "3", "-bytes", "1048576", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    last = [line for line in out.splitlines() if line.strip()][-1]
    kbytes = float(re.findall(r"([\d.]+)k", last)[-1])
    return kbytes / 1000


def child(mode: str, src: Path, dst: Path, key: bytes) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(src), str(dst), key.hex()], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def run() -> list[Row]:
    cbc_enc = openssl_rate("-evp", "aes-256-cbc")
    cbc_dec = openssl_rate("-evp", "aes-256-cbc", "-decrypt")
    mac = openssl_rate("-hmac", "sha256")
    ceil_enc = 1 / (1 / cbc_enc + 1 / mac)
    ceil_dec = 1 / (1 / cbc_dec + 1 / mac)
    print(f"openssl: aes-256-cbc encrypt {cbc_enc:.0f} MB/s, decrypt {cbc_dec:.0f} MB/s, hmac-sha256 {mac:.0f} MB/s")
    print(f"ceilings: encrypt-then-MAC {ceil_enc:.0f} MB/s, verify-then-decrypt {ceil_dec:.0f} MB/s")
    key = os.urandom(32)
    size = SIZE_MB * 1024 * 1024
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        plain, enc, dec = Path(tmp, "model.bin"), Path(tmp, "model.enc"), Path(tmp, "model.dec")
        with open(plain, "wb") as fh:
            block = os.urandom(1024 * 1024)
            for _ in range(SIZE_MB):
                fh.write(block)
        results = {}
        for mode, src, dst in (("encrypt", plain, enc), ("decrypt", enc, dec)):
            runs = [child(mode, src, dst, key) for _ in range(2)]
            best = min(r["seconds"] for r in runs)
            results[mode] = (size / 1e6 / best, max(r["maxrss_mb"] for r in runs))
            rate, rss = results[mode]
            print(f"{mode}: {rate:.0f} MB/s (file to file, fsync included), peak RSS {rss:.0f} MB")
        if dec.read_bytes() != plain.read_bytes():
            raise AssertionError("decrypted file differs from the original")
    rows = []
    for mode, ceiling in (("encrypt", ceil_enc), ("decrypt", ceil_dec)):
        rate, rss = results[mode]
        ratio = rate / ceiling
        rows.append(
            Row(
                f"crypto {mode} ({SIZE_MB} MB file)",
                ">= 0.70 x ceiling",
                f"{ratio:.2f} x ({rate:.0f} of {ceiling:.0f} MB/s)",
                ratio >= 0.7,
            )
        )
        rows.append(Row(f"crypto {mode} peak RSS", "< 100 MB", f"{rss:.0f} MB", rss < 100))
    return rows
