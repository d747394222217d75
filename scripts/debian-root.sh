#!/usr/bin/env bash
# Builds (once) a minimal Debian root with debootstrap and the given packages: the clean machine the
# .deb is installed on (test/packaging), and another Debian release's programs (the Debian 13 test
# stack, through scripts/build-trixie-root.sh).
#
#   scripts/debian-root.sh SUITE DIR [PACKAGE...]           build DIR unless a complete root is there; prints DIR
#   scripts/debian-root.sh --check SUITE DIR [PACKAGE...]   exit 0 if DIR is complete, 1 otherwise
#   scripts/debian-root.sh --mount SUITE DIR [PACKAGE...]   mount proc and a tmpfs on dev/shm (idempotent)
#   scripts/debian-root.sh --umount SUITE DIR [PACKAGE...]  undo --mount (and the tmpdir bind the harness adds)
#   e.g. debian-root.sh bookworm /var/cache/switchyard/bookworm-clean
#
# A root is built in "DIR.partial" and renamed into place only after every step succeeded, then marked
# complete with "DIR/.switchyard-complete" (the package list, then versions). It is used only when that
# marker names the same packages and its /etc/os-release names SUITE; anything else (a half-built root)
# is removed and built again, never used. With packages, no service starts while they install and
# PostgreSQL creates no "main" cluster (tests make their own data directories). Progress goes to
# stderr, the build log to "DIR-build.log". Needs root (debootstrap, chroot, mount) and Debian's
# package servers ($SWITCHYARD_DEBIAN_MIRROR, default http://deb.debian.org/debian).
set -euo pipefail

usage="usage: debian-root.sh [--check|--mount|--umount] SUITE DIR [PACKAGE...]"
action=build
case "${1:-}" in
  --check | --mount | --umount) action=${1#--} && shift ;;
  -*) echo "$usage" >&2 && exit 2 ;;
esac
suite=${1:?$usage}
dir=${2:?$usage}
shift 2
packages="$*"
mirror=${SWITCHYARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
MARKER=.switchyard-complete
WANT="packages: $packages"

codename() { (. "$1/etc/os-release" 2>/dev/null && echo "${VERSION_CODENAME:-}"); }

is_complete() {
  # Roots marked by this script before it served both suites: ".switchyard-root" holding "SUITE PACKAGES".
  if [ -f "$1/.switchyard-root" ] && [ "$(cat "$1/.switchyard-root")" = "$suite $packages" ]; then return 0; fi
  [ -f "$1/$MARKER" ] && grep -qxF "$WANT" "$1/$MARKER" && [ "$(codename "$1")" = "$suite" ]
}

is_mounted() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }

mount_root() {
  mkdir -p "$1/proc" "$1/dev/shm"
  is_mounted "$1/proc" || mount -t proc proc "$1/proc"
  is_mounted "$1/dev/shm" || mount -t tmpfs -o mode=1777,size=256m tmpfs "$1/dev/shm"
}

umount_root() {
  local m
  # Everything mounted inside the root, deepest first: proc, dev/shm, and what test/harness/stack.ts
  # binds (the host's temp dir, the node runtime and the repository, at the same paths).
  while read -r m; do
    umount "$m" || umount -l "$m"
  done < <(awk -v p="$1/" 'index($2, p) == 1 { print length($2), $2 }' /proc/self/mounts | sort -rn | cut -d' ' -f2-)
}

case $action in
  check) is_complete "$dir" && exit 0 || exit 1 ;;
  mount)
    is_complete "$dir" || { echo "debian-root.sh: $dir is not a complete $suite root; build it first" >&2 && exit 1; }
    mount_root "$dir" && exit 0 ;;
  umount) umount_root "$dir" && exit 0 ;;
esac

if is_complete "$dir"; then
  echo "$dir"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "debian-root.sh: building needs root (debootstrap, chroot)" >&2 && exit 1; }

export DEBIAN_FRONTEND=noninteractive
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends debootstrap >&2
fi

partial="$dir.partial"
trap 'umount_root "$partial"' EXIT

for d in "$partial" "$dir"; do
  [ -e "$d" ] || continue
  echo "debian-root.sh: removing incomplete $d" >&2
  umount_root "$d"
  # a bind mount of the same file system would let rm reach the host's files: refuse instead
  if awk -v p="$d/" 'index($2, p) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    echo "debian-root.sh: something is still mounted under $d; not removing it" >&2
    exit 1
  fi
  rm -rf --one-file-system "$d"
done
mkdir -p "$(dirname "$dir")"

start=$(date +%s)
log="$dir-build.log"
echo "debian-root.sh: debootstrap $suite into $partial (a few minutes, once)" >&2
debootstrap --variant=minbase "$suite" "$partial" "$mirror" >"$log" 2>&1 || { tail -n 30 "$log" >&2 && exit 1; }

if [ -n "$packages" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$partial/usr/sbin/policy-rc.d"
  chmod 755 "$partial/usr/sbin/policy-rc.d"
  mkdir -p "$partial/etc/postgresql-common/createcluster.d"
  echo "create_main_cluster = false" >"$partial/etc/postgresql-common/createcluster.d/switchyard.conf"
  mount_root "$partial"
  echo "debian-root.sh: installing $packages" >&2
  # $packages unquoted on purpose: one word per package
  chroot "$partial" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages && apt-get clean" \
    >>"$log" 2>&1 || { tail -n 30 "$log" >&2 && exit 1; }
  umount_root "$partial"
fi

{
  echo "$WANT"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(($(date +%s) - start)) s"
  if [ -n "$packages" ]; then
    # every package installed, or the root is not complete
    # shellcheck disable=SC2086
    chroot "$partial" dpkg-query -W -f='${db:Status-Status} ${Package} ${Version}\n' $packages |
      awk '$1 != "installed" { bad = 1 } { print $2, $3 } END { exit bad }'
  fi
} >"$partial/$MARKER.tmp"
mv "$partial" "$dir"
mv "$dir/$MARKER.tmp" "$dir/$MARKER"
trap - EXIT
echo "debian-root.sh: $suite root complete at $dir ($(($(date +%s) - start)) s)" >&2
echo "$dir"
