import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { startTargets } from '../../src/router/start.js';
import type { Target } from '../../src/targets/types.js';

/** A target that counts start/close calls; `failStart` makes its start() throw. */
function countingTarget(name: string, failStart = false) {
  const calls = { start: 0, close: 0 };
  const target: Target = {
    kind: 'fake',
    name,
    async start() {
      calls.start += 1;
      if (failStart) throw new Error(`${name} cannot start`);
    },
    async apply(snapshot) {
      return { generation: snapshot.generation, didChange: false, summary: '' };
    },
    async close() {
      calls.close += 1;
    },
  };
  return { target, calls };
}

test('when a later target fails to start, the targets already started are closed and the error is kept', async () => {
  const vip = countingTarget('vip');
  const haproxy = countingTarget('haproxy');
  const pgbouncer = countingTarget('pgbouncer', true);
  const never = countingTarget('pgcat');
  await assert.rejects(
    startTargets([vip.target, haproxy.target, pgbouncer.target, never.target], silentLogger()),
    /pgbouncer cannot start/,
  );
  assert.deepEqual(vip.calls, { start: 1, close: 1 }, 'the VIP started first is released');
  assert.deepEqual(haproxy.calls, { start: 1, close: 1 });
  assert.deepEqual(pgbouncer.calls, { start: 1, close: 1 }, 'the failing target is closed too');
  assert.deepEqual(never.calls, { start: 0, close: 0 }, 'targets after the failure are not started');
});

test('a close that fails during that clean-up does not hide the start error', async () => {
  const broken = countingTarget('vip');
  broken.target.close = async () => {
    throw new Error('close failed');
  };
  const failing = countingTarget('haproxy', true);
  await assert.rejects(startTargets([broken.target, failing.target], silentLogger()), /haproxy cannot start/);
  assert.equal(failing.calls.close, 1);
});

test('when every target starts, none is closed', async () => {
  const a = countingTarget('haproxy');
  const b = countingTarget('vip');
  await startTargets([a.target, b.target], silentLogger());
  assert.deepEqual(
    [a.calls, b.calls],
    [
      { start: 1, close: 0 },
      { start: 1, close: 0 },
    ],
  );
});
