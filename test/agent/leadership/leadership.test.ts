import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monotonicMs } from '../../../src/dcs/lease.js';
import { silentLogger } from '../../../src/log.js';
import { Leadership, type LeaseLike } from '../../../agent/leadership/leadership.js';
import { sleep } from './fake-postmaster.js';

/** Fakes that count calls: a lease, a postmaster (pid or none) and a watchdog. */
function rig(o: { pid?: number | null; aliveForMs?: number; ttl?: number } = {}) {
  const lease: { -readonly [K in keyof LeaseLike]: LeaseLike[K] } = {
    id: '7',
    ttlSeconds: o.ttl ?? 10,
    aliveUntil: monotonicMs() + (o.aliveForMs ?? 10_000),
  };
  const calls = { arm: [] as [number, number][], disarm: 0, fence: 0 };
  const l = new Leadership({
    lease: () => lease,
    postgres: {
      livePostmasterPid: () => (o.pid === undefined ? 4242 : o.pid),
      fence: () => {
        calls.fence++;
        return true;
      },
    },
    watchdog: { arm: (d, p) => calls.arm.push([d, p]), disarm: () => calls.disarm++ },
    log: silentLogger(),
  });
  return { l, lease, calls };
}

test('taking the lock arms the watchdog at once, before PostgreSQL is promoted or any cycle ends', () => {
  const { l, lease, calls } = rig();
  l.setLock(true);
  assert.equal(calls.arm.length, 1);
  const [deadline, pid] = calls.arm[0] as [number, number];
  assert.equal(pid, 4242);
  assert.ok(deadline < lease.aliveUntil, 'the watchdog fires before the lease can expire');
  l.stop();
});

test('the guards are armed from lock and postmaster liveness alone: re-arming never disarms a running leader', () => {
  const { l, calls } = rig();
  l.setLock(true);
  for (let i = 0; i < 3; i++) l.rearm();
  assert.equal(calls.disarm, 0);
  assert.equal(calls.arm.length, 4);
  l.stop();
});

test('without a live postmaster (stale pid file) nothing is armed', () => {
  const { l, calls } = rig({ pid: null });
  l.setLock(true);
  assert.equal(calls.arm.length, 0);
  assert.equal(calls.disarm, 1);
  l.stop();
});

test('the fence timer stops PostgreSQL at the lease safe deadline when no renewal comes', async () => {
  // ttl 4 s → safety margin 1 s: the lease alive for 1.3 s more must be fenced after ~0.3 s.
  const { l, calls } = rig({ ttl: 4, aliveForMs: 1300 });
  l.setLock(true);
  await sleep(150);
  assert.equal(calls.fence, 0);
  await sleep(400);
  assert.equal(calls.fence, 1);
  assert.equal(l.hasLock, false);
  l.stop();
});

test('a renewal before the deadline keeps PostgreSQL running', async () => {
  const { l, lease, calls } = rig({ ttl: 4, aliveForMs: 1300 });
  l.setLock(true);
  await sleep(100);
  lease.aliveUntil = monotonicMs() + 4000;
  l.rearm();
  await sleep(500);
  assert.equal(calls.fence, 0);
  assert.equal(l.isLeaderNow(), true);
  l.stop();
});

test('losing the lock disarms the watchdog and the fence timer', async () => {
  const { l, calls } = rig({ ttl: 4, aliveForMs: 1300 });
  l.setLock(true);
  l.setLock(false);
  await sleep(500);
  assert.equal(calls.fence, 0);
  assert.ok(calls.disarm >= 1);
});

test('a watchdog that died for good fences a leading primary (nothing else covers a frozen agent)', () => {
  const { l, calls } = rig();
  l.setLock(true);
  l.watchdogDead('watchdog process 1 exited (SIGKILL)');
  assert.equal(calls.fence, 1);
  assert.equal(l.hasLock, false);
});

test('a watchdog that died while not leading fences nothing', () => {
  const { l, calls } = rig();
  l.watchdogDead('watchdog process 1 exited (SIGKILL)');
  assert.equal(calls.fence, 0);
});

test('pause disarms the guards (Patroni turns its watchdog off in maintenance mode)', () => {
  const { l, calls } = rig();
  l.setPaused(true);
  l.setLock(true);
  assert.equal(calls.arm.length, 0);
  l.stop();
});
