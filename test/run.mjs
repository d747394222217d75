#!/usr/bin/env node
// Runs the test suite with node:test, one file at a time (integration tests start real etcd, PostgreSQL,
// Patroni, HAProxy and PgBouncer; the machine has 2 cores). Prints the spec report, then one closing line:
// "N passed, N failed, N skipped".
//   node test/run.mjs              every test
//   node test/run.mjs --unit       only unit tests (files not named *.int.test.ts)
//   node test/run.mjs FILE...      just these files
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const explicit = args.filter((a) => !a.startsWith('--'));

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const files = explicit.length
  ? explicit
  : walk(join(root, 'test'))
      .filter((f) => f.endsWith('.test.ts'))
      .filter((f) => !unitOnly || !f.endsWith('.int.test.ts'))
      .map((f) => relative(root, f))
      .sort(
        (a, b) =>
          Number(a.endsWith('.int.test.ts')) - Number(b.endsWith('.int.test.ts')) || a.localeCompare(b),
      );

const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    // A test file whose tests finished must not hang the run on a leaked handle.
    '--test-force-exit',
    `--test-timeout=${process.env.SWITCHYARD_TEST_TIMEOUT_MS ?? 600000}`,
    '--test-reporter=spec',
    ...files,
  ],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
);
// The spec reporter's closing totals ("ℹ pass 12") are read from the output it prints.
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  // eslint-disable-next-line no-control-regex
  tail = (tail + chunk.toString('utf8').replace(/\x1b\[[0-9;]*m/g, '')).slice(-8192);
});
child.on('close', (code, signal) => {
  const num = (name) => Number(tail.match(new RegExp(`^ℹ ${name} (\\d+)$`, 'm'))?.[1] ?? NaN);
  let passed = num('pass');
  let failed = num('fail') + num('cancelled');
  const skipped = num('skipped') + num('todo');
  if (Number.isNaN(passed) || Number.isNaN(failed)) {
    passed = Number.isNaN(passed) ? 0 : passed;
    failed = Math.max(1, Number.isNaN(failed) ? 0 : failed); // no totals: the run did not finish
  }
  if (signal) failed = Math.max(failed, 1);
  console.log(`${passed} passed, ${failed} failed, ${Number.isNaN(skipped) ? 0 : skipped} skipped`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
