#!/usr/bin/env bash
# Installs the Debian 12 packages Switchyard's tests, benchmarks and demo use. Needs root; as another
# user it prints the command to run instead. Safe to run again: installed packages are skipped.
set -euo pipefail
PACKAGES=(
  postgresql-15 postgresql-client-15   # PostgreSQL 15 server and client
  etcd-server etcd-client              # etcd 3.4 (v3 API) and etcdctl
  patroni                              # Patroni 3.0.2: the reference peer and the demo cluster
  haproxy pgbouncer                    # routing targets under test
  iproute2 arping libndp-tools socat   # VIP target: ip, gratuitous ARP, IPv6 NA; runtime-API socket
  vip-manager                          # VIP benchmark baseline
  python3                              # the VIP target's resident ARP sender
  openssl procps ca-certificates tmux  # test certificates, ps/kill, demo terminal
  chromium fonts-dejavu-core           # the status page, tested in a headless browser
  debootstrap                          # clean Debian roots: the .deb install test, the Debian 13 stack
  prometheus                           # promtool: checks and unit-tests examples/monitoring/alerts.yml
)
missing=()
for p in "${PACKAGES[@]}"; do
  [[ "$p" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
