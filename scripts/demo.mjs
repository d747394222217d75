#!/usr/bin/env node
// `npm start`: checks what the demo needs (Debian packages, Node.js 22+, node_modules), installs what is
// missing when it can, then runs scripts/demo.ts. Flags are passed through (--keep, --help).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const deps = spawnSync('bash', [`${root}scripts/install-deps.sh`], { stdio: 'inherit' });
if (deps.status !== 0) process.exit(deps.status ?? 1);

// Switchyard needs Node.js 22 or newer; Debian 12 ships 18. An older node fetches Node 22 once from
// the npm registry (scripts/node-runtime.sh) and runs everything below with it.
let node = process.execPath;
const env = { ...process.env };
if (Number(process.versions.node.split('.')[0]) < 22) {
  const found = spawnSync('bash', [`${root}scripts/node-runtime.sh`, '22'], { encoding: 'utf8' });
  if (found.status !== 0) {
    process.stderr.write(found.stderr);
    process.stderr.write(
      `Node.js ${process.versions.node} is too old (Switchyard needs 22+) and Node 22 could not be fetched\n`,
    );
    process.exit(1);
  }
  node = found.stdout.trim();
  env.PATH = `${dirname(node)}:${env.PATH ?? ''}`;
  console.log(`Node.js ${process.versions.node} is older than 22: using ${node}`);
}
if (!existsSync(`${root}node_modules/tsx`) || !existsSync(`${root}node_modules/etcd3`)) {
  console.log('installing npm dependencies (npm ci)...');
  const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env });
  if (ci.status !== 0) process.exit(ci.status ?? 1);
}
const demo = spawnSync(node, ['--import', 'tsx', `${root}scripts/demo.ts`, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env,
});
process.exit(demo.status ?? 1);
