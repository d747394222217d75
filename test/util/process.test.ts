import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProcessStartError, runProcess } from '../../src/util/process.js';

test('a process that exits non-zero gives its code and output tails instead of throwing', async () => {
  const r = await runProcess({
    file: '/bin/sh',
    args: ['-c', 'echo out; echo err >&2; exit 3'],
    timeoutMs: 5000,
  });
  assert.equal(r.exitCode, 3);
  assert.equal(r.timedOut, false);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  assert.match(r.output, /out\n/);
  assert.match(r.output, /err\n/);
});

test('a process past its deadline is killed, with its whole group, and reported as timed out', async () => {
  const started = Date.now();
  const r = await runProcess({
    file: '/bin/sh',
    args: ['-c', 'sleep 30 & wait'],
    timeoutMs: 200,
    group: true,
    killGraceMs: 200,
  });
  assert.equal(r.timedOut, true);
  assert.equal(r.exitCode, null);
  assert.ok(r.signal !== null);
  assert.ok(Date.now() - started < 5000, 'the hung grandchild did not hold the pipes open');
});

test('an abort signal cancels a running process', async () => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const r = await runProcess({ file: 'sleep', args: ['30'], timeoutMs: 10_000, signal: controller.signal });
  assert.equal(r.canceled, true);
  assert.equal(r.timedOut, false);
});

test('secret-looking variables are not inherited unless kept, and named ones are passed', async () => {
  process.env['SY_TEST_PROC_PASSWORD'] = 'hidden';
  process.env['SY_TEST_PROC_TOKEN'] = 'kept';
  try {
    const r = await runProcess({
      file: 'env',
      args: [],
      timeoutMs: 5000,
      env: { SY_TEST_PROC_GIVEN_SECRET: 'given' },
      keepEnv: (name) => name === 'SY_TEST_PROC_TOKEN',
    });
    assert.doesNotMatch(r.stdout, /hidden/);
    assert.match(r.stdout, /SY_TEST_PROC_TOKEN=kept/);
    assert.match(r.stdout, /SY_TEST_PROC_GIVEN_SECRET=given/);
  } finally {
    delete process.env['SY_TEST_PROC_PASSWORD'];
    delete process.env['SY_TEST_PROC_TOKEN'];
  }
});

test('a program that does not exist is a ProcessStartError naming it and the reason', async () => {
  await assert.rejects(
    runProcess({ file: '/nonexistent/sy-prog', args: [], timeoutMs: 1000 }),
    (err: unknown) =>
      err instanceof ProcessStartError &&
      err.code === 'SY_ERR_PROCESS' &&
      /sy-prog: ENOENT/.test(err.message),
  );
});
