#!/usr/bin/env node
// Runs the test suite with node:test, one file at a time (integration tests start real etcd, PostgreSQL,
// Patroni, HAProxy and PgBouncer; the machine has 2 cores). Prints the spec report, then one closing line:
// "N passed, N failed, N skipped".
//   node test/run.mjs              every test
//   node test/run.mjs --unit       only unit tests (files not named *.int.test.ts)
//   node test/run.mjs FILE...      just these files
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';

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

const out = mkdtempSync(join(tmpdir(), 'switchyard-test-'));
const tap = join(out, 'report.tap');
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
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
);
child.on('exit', (code, signal) => {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  try {
    const text = readFileSync(tap, 'utf8');
    const num = (name) => Number(text.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
    passed = num('pass');
    failed = num('fail') + num('cancelled');
    skipped = num('skipped') + num('todo');
  } catch {
    failed = 1;
  }
  rmSync(out, { recursive: true, force: true });
  if (signal) failed = Math.max(failed, 1);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
