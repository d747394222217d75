#!/usr/bin/env bash
# The Debian 13 "trixie" root that the second test stack runs from: etcd 3.5, Patroni 4.0.7,
# PostgreSQL 17, HAProxy 3.0, PgBouncer 1.24 (see test/harness/README.md). scripts/debian-root.sh
# builds, checks and mounts it; this names the suite, the packages and where the root lives.
#
#   scripts/build-trixie-root.sh            build the root unless a complete one is there
#   scripts/build-trixie-root.sh --check    exit 0 if a complete root is there, 1 otherwise
#   scripts/build-trixie-root.sh --mount    mount proc and a tmpfs on dev/shm (idempotent)
#   scripts/build-trixie-root.sh --umount   undo --mount (and the tmpdir bind the harness adds)
#
# The root lives outside git, in $SWITCHYARD_TRIXIE_ROOT (default /var/cache/switchyard/trixie-root);
# $SWITCHYARD_TRIXIE_MIRROR picks the Debian mirror. Needs root (debootstrap, chroot, mount).
set -euo pipefail

ROOT=${SWITCHYARD_TRIXIE_ROOT:-/var/cache/switchyard/trixie-root}
export SWITCHYARD_DEBIAN_MIRROR=${SWITCHYARD_TRIXIE_MIRROR:-${SWITCHYARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}}
PACKAGES=(patroni postgresql-17 etcd-server etcd-client haproxy pgbouncer python3-etcd python3-psycopg2)
root_script="$(dirname "$0")/debian-root.sh"

case "${1:-}" in
  --check | --mount | --umount) exec bash "$root_script" "$1" trixie "$ROOT" "${PACKAGES[@]}" ;;
  "") ;;
  *) echo "usage: $0 [--check|--mount|--umount]" >&2 && exit 2 ;;
esac
bash "$root_script" trixie "$ROOT" "${PACKAGES[@]}" >/dev/null
echo "trixie root: complete at $ROOT"
