#!/usr/bin/env bash
# Make arm64 (aarch64) binaries run on this x86-64 host, in containers too, with an emulator new enough
# for the edge image: QEMU >= 8. Debian 12's own qemu-user-static (7.2) runs most of the image but
# crashes importing onnxruntime >= 1.28 (SIGSEGV, tested with 1.28 to 1.32 and every QEMU_CPU); QEMU 10
# runs it. So, when the registered emulator is older than 8 or there is none:
#   1. the qemu-user package of Debian 13 (trixie: QEMU 10, its binaries are static, so they run on
#      Debian 12) is downloaded from the Debian mirror and verified as apt would: the suite's InRelease
#      by its signature (gpgv, the debian-archive-keyring of this host), Packages.xz by the SHA-256 in
#      it, the .deb by the SHA-256 in Packages; kept in ~/.cache/azaion/qemu;
#   2. its qemu-aarch64 is registered in binfmt_misc with the flags Debian uses (F: the kernel opens
#      it now, so containers use it without seeing it; P: argv[0] kept), replacing the old entry.
# Root is needed to register. The change lasts until reboot (or until binfmt-support registers its
# own again); running this again restores it. MIRROR overrides the mirror (default deb.debian.org).
#   scripts/qemu-arm64.sh          ensure, say which emulator runs arm64
set -euo pipefail
binfmt=/proc/sys/fs/binfmt_misc
entry=$binfmt/qemu-aarch64
mirror="${MIRROR:-http://deb.debian.org/debian}"
suite=trixie
cache="${XDG_CACHE_HOME:-$HOME/.cache}/azaion/qemu"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

say() { echo "qemu-arm64: $*"; }
fail() { echo "qemu-arm64: $*" >&2; exit 1; }

# The QEMU major version of the registered aarch64 emulator, or nothing.
registered_major() {
  [[ -r $entry ]] && grep -qx enabled "$entry" || return 0
  local interpreter
  interpreter=$(readlink -f "$(sed -n 's/^interpreter //p' "$entry")")
  [[ -x $interpreter ]] || return 0
  # Debian's -binfmt-P names expect argv[0] first; the binary's own name answers --version.
  "$interpreter" --version 2>/dev/null | sed -n 's/^qemu-aarch64 version \([0-9]*\)\..*/\1/p' | head -n 1 \
    || true
}

mountpoint -q "$binfmt" || { [[ $(id -u) -eq 0 ]] && mount -t binfmt_misc binfmt_misc "$binfmt"; } \
  || fail "binfmt_misc is not mounted and only root can mount it"

major=$(registered_major)
if [[ -n $major ]] && ((major >= 8)); then
  say "arm64 runs under QEMU $major (registered)"
  exit 0
fi
[[ $(id -u) -eq 0 ]] || fail "arm64 needs QEMU >= 8 registered in binfmt_misc (found: ${major:-none}); run this as root"
for tool in curl gpgv xz sha256sum dpkg-deb; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install curl gpgv xz-utils dpkg)"
done
[[ -r $keyring ]] || fail "$keyring is missing (apt-get install debian-archive-keyring)"

# Registered under Debian's name (aarch64-binfmt-P, a link): QEMU reads its own name to know that the
# kernel keeps argv[0] (flag P); the binary itself is qemu-aarch64, which answers --version.
emulator=$cache/aarch64-binfmt-P
if [[ ! -x $cache/qemu-aarch64 ]]; then
  say "the registered emulator is QEMU ${major:-(none)}; fetching Debian $suite's qemu-user (QEMU 10, verified)"
  work=$(mktemp -d /tmp/azaion-qemu.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  curl -fsS --retry 3 -m 60 -o "$work/InRelease" "$mirror/dists/$suite/InRelease"
  gpgv --keyring "$keyring" --output "$work/Release" "$work/InRelease" 2>"$work/gpgv.log" \
    || { cat "$work/gpgv.log" >&2; fail "$suite's InRelease does not verify with $keyring"; }
  packages_sha=$(awk '$3 == "main/binary-amd64/Packages.xz" && length($1) == 64 {print $1; exit}' "$work/Release")
  [[ -n $packages_sha ]] || fail "no SHA-256 of main/binary-amd64/Packages.xz in $suite's Release"
  curl -fsS --retry 3 -m 300 -o "$work/Packages.xz" "$mirror/dists/$suite/main/binary-amd64/Packages.xz"
  echo "$packages_sha  $work/Packages.xz" | sha256sum -c --quiet - || fail "Packages.xz does not match its Release"
  read -r filename deb_sha < <(xz -dc "$work/Packages.xz" | awk '
    /^Package: / {p = ($2 == "qemu-user")} p && /^Filename: / {f = $2} p && /^SHA256: / {s = $2}
    /^$/ && p && f {print f, s; exit}')
  [[ -n ${filename:-} && -n ${deb_sha:-} ]] || fail "no qemu-user package in $suite's Packages"
  curl -fsS --retry 3 -m 600 -o "$work/qemu-user.deb" "$mirror/$filename"
  echo "$deb_sha  $work/qemu-user.deb" | sha256sum -c --quiet - || fail "$filename does not match its SHA-256"
  dpkg-deb -x "$work/qemu-user.deb" "$work/x"
  mkdir -p "$cache"
  install -m 0755 "$work/x/usr/bin/qemu-aarch64" "$cache/qemu-aarch64"
  say "$(basename "$filename") verified; its qemu-aarch64 kept in $cache"
fi
ln -sfn qemu-aarch64 "$emulator"

magic='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
[[ -e $entry ]] && echo -1 >"$entry"
echo ":qemu-aarch64:M::$magic:$mask:$emulator:PF" >"$binfmt/register"
major=$(registered_major)
[[ -n $major ]] && ((major >= 8)) || fail "registering $emulator failed (found QEMU ${major:-none} after)"
say "arm64 runs under QEMU $major ($emulator, registered until reboot)"
