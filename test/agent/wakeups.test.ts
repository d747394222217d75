import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DownClock, HandoverWatch, droppedWatchKeys } from '../../agent/wakeups.js';
import { cluster, member, replicaPg } from './ha/fixtures.js';

const standby = { ...replicaPg, isInRecovery: true };
const pending = cluster({
  config: { synchronous_mode: true },
  sync: { leader: 'pg1', sync_standby: 'pg2' },
  failover: { leader: 'pg1' },
  members: { pg1: member('pg1', { role: 'master' }), pg2: member('pg2'), pg3: member('pg3') },
});

test('a /sync standby cycles every 100 ms while a switchover away from another leader is pending', () => {
  let now = 0;
  const w = new HandoverWatch(100, () => now);
  assert.equal(w.sleepMs(pending, standby, 'pg2'), 100);
  now = 4000;
  assert.equal(w.sleepMs(pending, standby, 'pg2'), 100);
  now = 6000;
  assert.equal(w.sleepMs(pending, standby, 'pg2'), Infinity, 'bounded by max(5 s, 2 × loop_wait)');
});

test('no fast cycling for a standby outside /sync in synchronous mode, for the leader, or without a failover key', () => {
  const w = new HandoverWatch(100, () => 0);
  assert.equal(w.sleepMs(pending, standby, 'pg3'), Infinity);
  assert.equal(w.sleepMs(pending, standby, 'pg1'), Infinity);
  assert.equal(w.sleepMs(cluster({ config: { synchronous_mode: true } }), standby, 'pg2'), Infinity);
});

test('the crash clock runs while the leader’s PostgreSQL is down and stops when it runs again', () => {
  let now = 1000;
  const c = new DownClock(() => now);
  c.note(true, false);
  now = 4000;
  assert.equal(c.ms(), 3000);
  c.note(false, false);
  assert.equal(c.ms(), 0);
});

test('SWITCHYARD_AGENT_FAULT_DROP_WATCH lists the keys whose watch events are dropped', () => {
  assert.deepEqual(
    [...droppedWatchKeys({ SWITCHYARD_AGENT_FAULT_DROP_WATCH: 'leader, failover' })],
    ['leader', 'failover'],
  );
  assert.equal(droppedWatchKeys({}).size, 0);
});
