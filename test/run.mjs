#!/usr/bin/env node
// Runs the test suite with node:test, one file at a time (integration tests start real etcd, PostgreSQL,
// Patroni, HAProxy and PgBouncer; the machine has 2 cores). Prints each file's spec report, then one
// closing line: "N passed, N failed, N skipped".
//   node test/run.mjs              every test
//   node test/run.mjs --unit       only unit tests (files not named *.int.test.ts)
//   node test/run.mjs FILE...      just these files
//
// Each file runs in its own `node --test --experimental-test-isolation=none` process and its totals
// are read from that process's own report. Isolation matters: with the default process isolation,
// `--test-force-exit` drops verdicts (passes and failures alike) still in flight from a test file's
// child to the runner (nodejs/node#64833); we saw 256–311 of 311 unit tests reported, with exit 0.
// In-process there is no such stream, and force-exit still ends a file that leaked a handle. A file
// whose process stays up after its report anyway is ended here a few seconds later, by pid.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const explicit = args.filter((a) => !a.startsWith('--'));
const fileTimeoutMs = Number(process.env.SWITCHYARD_TEST_TIMEOUT_MS ?? 900_000);
const lingerMs = 5_000;

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

/** Runs one file; resolves with its totals, or marks it failed when it never reported them. */
function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        // In-process: no child-to-parent report stream to lose (the flag's name on Node 22 and 24).
        '--experimental-test-isolation=none',
        '--test-force-exit',
        `--test-timeout=${fileTimeoutMs}`,
        '--test-reporter=spec',
        file,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let tail = '';
    let lingerTimer;
    const hardTimer = setTimeout(() => child.kill('SIGKILL'), fileTimeoutMs + 60_000);
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      // eslint-disable-next-line no-control-regex
      tail = (tail + chunk.toString('utf8').replace(/\x1b\[[0-9;]*m/g, '')).slice(-8192);
      // The report ends with "ℹ duration_ms N": the file is done, whatever handles it leaked.
      if (!lingerTimer && /^ℹ duration_ms [\d.]+$/m.test(tail))
        lingerTimer = setTimeout(() => child.kill('SIGKILL'), lingerMs);
    });
    child.on('close', (code, signal) => {
      clearTimeout(hardTimer);
      clearTimeout(lingerTimer);
      const num = (name) => Number(tail.match(new RegExp(`^ℹ ${name} (\\d+)$`, 'm'))?.[1] ?? NaN);
      const passed = num('pass');
      const failed = num('fail') + num('cancelled');
      const skipped = num('skipped') + num('todo');
      if (Number.isNaN(passed) || Number.isNaN(failed)) {
        console.log(`✖ ${file}: ended (${signal ?? `exit ${code}`}) without reporting its totals`);
        return resolve({
          passed: Number.isNaN(passed) ? 0 : passed,
          failed: Math.max(1, failed || 0),
          skipped: 0,
        });
      }
      const isReported = Boolean(lingerTimer);
      if (!isReported && code !== 0 && failed === 0) {
        console.log(`✖ ${file}: exited ${code ?? signal} although every test passed`);
        return resolve({ passed, failed: 1, skipped });
      }
      resolve({ passed, failed, skipped: Number.isNaN(skipped) ? 0 : skipped });
    });
  });
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const failedFiles = [];
for (const file of files) {
  const r = await runFile(file);
  totals.passed += r.passed;
  totals.failed += r.failed;
  totals.skipped += r.skipped;
  if (r.failed > 0) failedFiles.push(file);
}
if (failedFiles.length) console.log(`\nfiles with failures:\n${failedFiles.map((f) => `  ${f}`).join('\n')}`);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed === 0 ? 0 : 1);
