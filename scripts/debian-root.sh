#!/usr/bin/env bash
# Builds (once) a minimal Debian root with debootstrap and the given packages, for tests that need a
# clean machine (installing the .deb) or another Debian release's programs. A root is used only when
# its marker says it was completed with the same suite and packages; anything else is rebuilt.
#   scripts/debian-root.sh SUITE DIR [PACKAGE...]     e.g. debian-root.sh bookworm /var/cache/switchyard/bookworm-clean
# Prints DIR. Needs root and Debian's package servers (the machine's apt sources).
set -euo pipefail
suite=${1:?usage: debian-root.sh SUITE DIR [PACKAGE...]}
dir=${2:?usage: debian-root.sh SUITE DIR [PACKAGE...]}
shift 2
want="$suite ${*:-}"
marker="$dir/.switchyard-root"
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then
  echo "$dir"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "debian-root.sh: needs root (debootstrap, chroot)" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
fi
tmp="$dir.partial"
cleanup() { mountpoint -q "$tmp/proc" && umount "$tmp/proc"; true; }
trap cleanup EXIT
rm -rf "$tmp" "$dir"
mkdir -p "$(dirname "$dir")"
echo "debootstrap $suite into $tmp (a few minutes, once)" >&2
debootstrap --variant=minbase "$suite" "$tmp" >&2
if [ $# -gt 0 ]; then
  mount -t proc proc "$tmp/proc"
  chroot "$tmp" apt-get update -qq >&2
  chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
  chroot "$tmp" apt-get clean
  umount "$tmp/proc"
fi
echo "$want" >"$tmp/.switchyard-root"
mv "$tmp" "$dir"
echo "$dir"
