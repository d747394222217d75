#!/usr/bin/env node
// `npm start`: checks what the demo needs (Debian packages, node_modules), installs what is missing
// when it can, then runs scripts/demo.ts. Flags are passed through (--keep, --help).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const deps = spawnSync('bash', [`${root}scripts/install-deps.sh`], { stdio: 'inherit' });
if (deps.status !== 0) process.exit(deps.status ?? 1);
if (!existsSync(`${root}node_modules/tsx`) || !existsSync(`${root}node_modules/etcd3`)) {
  console.log('installing npm dependencies (npm ci)...');
  const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (ci.status !== 0) process.exit(ci.status ?? 1);
}
const demo = spawnSync(
  process.execPath,
  ['--import', 'tsx', `${root}scripts/demo.ts`, ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
process.exit(demo.status ?? 1);
