#!/usr/bin/env bash
# Builds switchyard_<version>_<arch>.deb with dpkg-deb: the compiled router and agent (dist/), their
# production npm dependencies, the default templates, a bundled Node.js 22 runtime (Debian 12 ships
# Node 18 and Debian 13 Node 20; Switchyard needs 22+), /usr/bin/switchyard, /etc/switchyard/router.yml,
# hardened systemd units and the docs. Needs node (any version that runs tsc), npm and dpkg-deb.
#   packaging/build-deb.sh [OUTDIR]      (default .tmp/pkg) — prints the .deb's path last
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/.tmp/pkg}
version=$(node -p "require('$root/package.json').version")
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

echo "building dist/ (tsc)" >&2
(cd "$root" && npx tsc -p tsconfig.build.json)

lib="$stage/usr/lib/switchyard"
install -d "$lib" "$stage/usr/bin" "$stage/etc/switchyard" "$stage/lib/systemd/system" \
  "$stage/usr/share/doc/switchyard/docs" "$stage/DEBIAN"
cp -r "$root/dist" "$root/bin" "$root/templates" "$root/package.json" "$root/package-lock.json" "$lib/"
rm -rf "$lib/dist/pkg"
echo "installing production dependencies" >&2
(cd "$lib" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
rm -f "$lib/package-lock.json"

node=$(bash "$root/scripts/node-runtime.sh" 22)
install -d "$lib/node/bin"
install -m 0755 "$node" "$lib/node/bin/node"
install -m 0644 "$(dirname "$node")/../LICENSE" "$lib/node/LICENSE"

cat >"$stage/usr/bin/switchyard" <<'SH'
#!/bin/sh
# Runs Switchyard on the Node.js runtime bundled with the package.
exec /usr/lib/switchyard/node/bin/node /usr/lib/switchyard/bin/switchyard.js "$@"
SH
chmod 0755 "$stage/usr/bin/switchyard"

install -m 0644 "$root/packaging/etc/router.yml" "$stage/etc/switchyard/router.yml"
install -m 0644 "$root"/packaging/systemd/*.service "$stage/lib/systemd/system/"
install -m 0644 "$root/README.md" "$stage/usr/share/doc/switchyard/README.md"
install -m 0644 "$root"/docs/*.md "$stage/usr/share/doc/switchyard/docs/"
install -m 0644 "$root/LICENSE" "$stage/usr/share/doc/switchyard/copyright"

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
  "$root/packaging/deb/control.in" >"$stage/DEBIAN/control"
install -m 0755 "$root/packaging/deb/postinst" "$root/packaging/deb/postrm" "$stage/DEBIAN/"
echo /etc/switchyard/router.yml >"$stage/DEBIAN/conffiles"

mkdir -p "$out"
deb="$out/switchyard_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "$deb"
