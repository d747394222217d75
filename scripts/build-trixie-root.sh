#!/usr/bin/env bash
# Builds (or checks) the Debian 13 "trixie" root that the second test stack runs from: etcd 3.5,
# Patroni 4.0.7, PostgreSQL 17, HAProxy 3.0, PgBouncer 1.24 (see test/harness/README.md).
#
#   scripts/build-trixie-root.sh            build the root unless a complete one is there
#   scripts/build-trixie-root.sh --check    exit 0 if a complete root is there, 1 otherwise
#   scripts/build-trixie-root.sh --mount    mount proc and a tmpfs on dev/shm (idempotent)
#   scripts/build-trixie-root.sh --umount   undo --mount (and the tmpdir bind the harness adds)
#
# The root lives outside git, in $SWITCHYARD_TRIXIE_ROOT (default /var/cache/switchyard/trixie-root).
# It is built in "$ROOT.partial" and renamed into place only after every step succeeded, then marked
# complete with "$ROOT/.switchyard-complete" (which records the package list): a half-built root is
# removed and built again, never used. Needs root (debootstrap, chroot, mount).
set -euo pipefail

ROOT=${SWITCHYARD_TRIXIE_ROOT:-/var/cache/switchyard/trixie-root}
MIRROR=${SWITCHYARD_TRIXIE_MIRROR:-http://deb.debian.org/debian}
PACKAGES="patroni postgresql-17 etcd-server etcd-client haproxy pgbouncer python3-etcd python3-psycopg2"
MARKER=.switchyard-complete
WANT="packages: $PACKAGES"

is_complete() { [ -f "$1/$MARKER" ] && grep -qxF "$WANT" "$1/$MARKER"; }

is_mounted() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }

mount_root() {
  local dir=$1
  mkdir -p "$dir/proc" "$dir/dev/shm"
  is_mounted "$dir/proc" || mount -t proc proc "$dir/proc"
  is_mounted "$dir/dev/shm" || mount -t tmpfs -o mode=1777,size=256m tmpfs "$dir/dev/shm"
}

umount_root() {
  local dir=$1 m
  # test/harness/stack.ts also binds the host's temp dir at the same path inside the root
  for m in "$dir${TMPDIR:-/tmp}" "$dir/tmp" "$dir/dev/shm" "$dir/proc"; do
    if is_mounted "$m"; then umount "$m" || umount -l "$m"; fi
  done
}

case "${1:-}" in
  --check) is_complete "$ROOT"; exit $? ;;
  --mount)
    is_complete "$ROOT" || { echo "trixie root: $ROOT is not complete; build it first" >&2; exit 1; }
    mount_root "$ROOT"; exit 0 ;;
  --umount) umount_root "$ROOT"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--check|--mount|--umount]" >&2; exit 2 ;;
esac

if is_complete "$ROOT"; then
  echo "trixie root: complete at $ROOT"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "trixie root: building needs root (debootstrap, chroot)" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends debootstrap
fi

PARTIAL="$ROOT.partial"
cleanup() { umount_root "$PARTIAL"; }
trap cleanup EXIT

# A root that is there but not marked complete was interrupted: it is removed, never used.
for dir in "$PARTIAL" "$ROOT"; do
  if [ -e "$dir" ]; then
    echo "trixie root: removing incomplete $dir"
    umount_root "$dir"
    # a bind mount of the same file system would let rm reach the host's files: refuse instead
    if awk -v d="$dir/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
      echo "trixie root: something is still mounted under $dir; not removing it" >&2
      exit 1
    fi
    rm -rf --one-file-system "$dir"
  fi
done
mkdir -p "$(dirname "$ROOT")"

start=$(date +%s)
LOG="$(dirname "$ROOT")/trixie-root-build.log"
echo "trixie root: debootstrap into $PARTIAL"
debootstrap --variant=minbase trixie "$PARTIAL" "$MIRROR" >"$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; exit 1; }

# No service starts inside the root while packages install, and PostgreSQL creates no "main" cluster:
# the harness makes its own data directories.
printf '#!/bin/sh\nexit 101\n' >"$PARTIAL/usr/sbin/policy-rc.d"
chmod 755 "$PARTIAL/usr/sbin/policy-rc.d"
mkdir -p "$PARTIAL/etc/postgresql-common/createcluster.d"
echo "create_main_cluster = false" >"$PARTIAL/etc/postgresql-common/createcluster.d/switchyard.conf"

mount_root "$PARTIAL"
echo "trixie root: installing $PACKAGES"
chroot "$PARTIAL" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $PACKAGES && apt-get clean" \
  >"$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; exit 1; }
umount_root "$PARTIAL"

for bin in /usr/bin/patroni /usr/lib/postgresql/17/bin/postgres /usr/bin/etcd /usr/sbin/haproxy /usr/sbin/pgbouncer; do
  [ -x "$PARTIAL$bin" ] || { echo "trixie root: $bin missing after install" >&2; exit 1; }
done
{
  echo "$WANT"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(($(date +%s) - start)) s"
  chroot "$PARTIAL" dpkg-query -W -f='${Package} ${Version}\n' patroni postgresql-17 etcd-server haproxy pgbouncer
} >"$PARTIAL/$MARKER.tmp"
mv "$PARTIAL" "$ROOT"
mv "$ROOT/$MARKER.tmp" "$ROOT/$MARKER"
trap - EXIT
echo "trixie root: complete at $ROOT ($(($(date +%s) - start)) s)"
