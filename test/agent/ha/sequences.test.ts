import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../agent/ha/decide.js';
import {
  planSync,
  formatSynchronousStandbyNames,
  parseSynchronousStandbyNames,
} from '../../../agent/ha/sync.js';
import type { HaSnapshot, LocalPostgres } from '../../../agent/ha/types.js';
import { NOW, cluster, peer, peers, replicaPg, snapshot } from './fixtures.js';

const run = (s: HaSnapshot) => {
  const d = decide(s);
  return { sentence: d.sentence, kinds: d.actions.map((a) => a.kind), actions: d.actions };
};

const afterFailover = {
  leader: 'pg2',
  history: [
    [1, 500, 'x'],
    [2, 1200, 'no recovery target specified', '2026-11-22T16:00:05+00:00', 'pg2'],
  ],
};

/** A stopped former primary of TL 2, after the failover to pg2, starts as pg2's replica through pg_rewind. */
function assertRejoinsByRewind(pg: Partial<LocalPostgres>): void {
  const d = run(snapshot({ pg, cluster: cluster(afterFailover) }));
  assert.deepEqual(d.actions, [{ kind: 'start_replica', leader: 'pg2', rewind: true }]);
}

test('a resumed frozen leader sees the newer leader and demotes, then rejoins with pg_rewind', () => {
  // Cycle 1 after SIGCONT: its PostgreSQL (if the watchdog had not fenced it) still runs as primary on TL 2.
  const c1 = run(
    snapshot({
      pg: { timeline: 2, walPosition: 1500 },
      cluster: cluster(afterFailover),
      lease: { id: '8', safeUntil: NOW + 7000 },
    }),
  );
  assert.equal(c1.sentence, 'demoting self because I do not have the lock and I was a leader');
  assert.deepEqual(c1.kinds, ['demote']);
  assert.ok(!c1.kinds.includes('acquire_lock'));
  // Cycle 2: stopped; it wrote past the switch point of TL 2, so it must rewind before following.
  assertRejoinsByRewind({
    state: 'stopped',
    isRunning: false,
    isInRecovery: null,
    timeline: 2,
    walPosition: 1500,
  });
});

test('a resumed frozen leader never retakes an empty leader key while the cluster moved to a newer timeline', () => {
  const s = snapshot({
    pg: { timeline: 2, walPosition: 5000 },
    cluster: cluster({ ...afterFailover, leader: null }),
    peers: peers(peer('pg2', { isReachable: false }), peer('pg3', { walPosition: 1300, timeline: 3 })),
  });
  const d = run(s);
  assert.equal(
    d.sentence,
    'demoting self: no leader lock and not healthy enough to take it (my timeline 2 is behind the cluster timeline 3)',
  );
  assert.deepEqual(d.kinds, ['demote']);
});

test('a former primary killed before its last checkpoint caught up still rejoins through pg_rewind', () => {
  // Its control file shows a checkpoint before the switch point, but it may have written WAL past it.
  assertRejoinsByRewind({
    state: 'crashed',
    isRunning: false,
    isInRecovery: null,
    timeline: 2,
    walPosition: 900,
  });
});

test('a standby following the leader without streaming for 30 s rejoins through pg_rewind', () => {
  const stalled = run(snapshot({ name: 'pg2', pg: { ...replicaPg, notStreamingMs: 31_000 } }));
  assert.deepEqual(stalled.actions, [{ kind: 'start_replica', leader: 'pg1', rewind: true }]);
  assert.equal(run(snapshot({ name: 'pg2', pg: { ...replicaPg, notStreamingMs: 5_000 } })).actions.length, 0);
});

test('the leader demotes when its lease deadline passed even though etcd still shows its key', () => {
  const d = run(snapshot({ lease: { id: '7', safeUntil: NOW } }));
  assert.deepEqual(d.kinds, ['demote']);
  assert.deepEqual(d.actions[0], { kind: 'demote', mode: 'immediate', releaseLock: false });
});

test('planned switchover: the leader demotes gracefully in favour of a healthy candidate', () => {
  const d = run(
    snapshot({
      cluster: cluster({ failover: { leader: 'pg1', member: 'pg2' } }),
      peers: peers(peer('pg2'), peer('pg3')),
    }),
  );
  assert.equal(d.sentence, 'manual failover: demoting myself in favour of pg2');
  assert.deepEqual(d.actions, [{ kind: 'switchover', candidate: 'pg2' }]);
});

test('planned switchover to an unhealthy candidate is cleared with the reason', () => {
  const d = run(
    snapshot({
      cluster: cluster({ failover: { leader: 'pg1', member: 'pg2' } }),
      peers: peers(peer('pg2', { isReachable: false })),
    }),
  );
  assert.equal(d.sentence, 'manual failover: member pg2 is not healthy, failover is not possible');
  assert.deepEqual(d.kinds, ['clear_failover']);
});

test('planned switchover in sync mode: a candidate outside /sync is refused', () => {
  const c = cluster({
    failover: { leader: 'pg1', member: 'pg3' },
    config: { synchronous_mode: true },
    sync: { leader: 'pg1', sync_standby: 'pg2' },
  });
  const d = run(snapshot({ cluster: c, peers: peers(peer('pg2'), peer('pg3')) }));
  assert.equal(d.sentence, 'manual failover: member pg3 is not healthy, failover is not possible');
});

test('switchover with a leader name that is not mine is cleared', () => {
  const d = run(
    snapshot({ cluster: cluster({ failover: { leader: 'pg9', member: 'pg2' } }), peers: peers(peer('pg2')) }),
  );
  assert.equal(d.sentence, 'manual failover: leader name does not match: pg9 != pg1');
});

test('a scheduled switchover waits until its time and a stale one is cleaned up', () => {
  const later = new Date(NOW + 60_000).toISOString();
  assert.equal(
    run(
      snapshot({
        cluster: cluster({ failover: { leader: 'pg1', member: 'pg2', scheduled_at: later } }),
        peers: peers(peer('pg2')),
      }),
    ).sentence,
    `awaiting scheduled switchover at ${later} (in 60 seconds)`,
  );
  const stale = new Date(NOW - 60_000).toISOString();
  assert.equal(
    run(snapshot({ cluster: cluster({ failover: { leader: 'pg1', member: 'pg2', scheduled_at: stale } }) }))
      .sentence,
    'found a stale failover value, cleaning up',
  );
});

test('switchover, second half: the candidate takes the released lock without a race', () => {
  const c = cluster({ leader: null, failover: { leader: 'pg1', member: 'pg2' } });
  const d = run(snapshot({ name: 'pg2', pg: replicaPg, cluster: c }));
  assert.equal(d.sentence, 'promoted self to leader by acquiring session lock (manual failover)');
  assert.deepEqual(d.kinds, ['acquire_lock', 'promote', 'clear_failover']);
  const other = run(snapshot({ name: 'pg3', pg: replicaPg, cluster: c, peers: peers(peer('pg2')) }));
  assert.equal(other.sentence, 'manual failover: waiting for pg2 to take the leader lock');
});

test('failover to a vanished candidate: others race without the lag check, the old leader does not', () => {
  const c = cluster({ leader: null, failover: { leader: 'pg1', member: 'pg2' }, optime: 10_000_000 });
  const d = run(
    snapshot({ name: 'pg3', pg: replicaPg, cluster: c, peers: peers(peer('pg2', { isReachable: false })) }),
  );
  assert.deepEqual(d.kinds, ['acquire_lock', 'promote', 'clear_failover']);
  const old = run(
    snapshot({ name: 'pg1', pg: replicaPg, cluster: c, peers: peers(peer('pg2', { isReachable: false })) }),
  );
  assert.equal(old.sentence, 'manual failover: I am the former leader; not racing');
});

test('bootstrap race interrupted: the winner that crashed before initdb leaves initialize empty and others wait', () => {
  const c = cluster({ leader: null, initialize: '', members: {} });
  const d = run(
    snapshot({ name: 'pg2', pg: { isDataDirEmpty: true, isRunning: false, systemId: null }, cluster: c }),
  );
  assert.equal(d.sentence, 'waiting for leader to bootstrap');
});

// --- synchronous replication, in Patroni's order -----------------------------------------------------------

const syncCluster = (
  sync: { leader: string; sync_standby: string | null } | undefined,
  extra: Record<string, unknown> = {},
) => cluster({ config: { synchronous_mode: true, ...extra }, ...(sync ? { sync } : {}) });
const row = (name: string, syncState = 'async', flushLsn = 1000) => ({
  applicationName: name,
  state: 'streaming',
  syncState,
  flushLsn,
});

test('sync: enabling writes /sync with the leader and no standby first', () => {
  assert.deepEqual(planSync(snapshot(), syncCluster(undefined)), [
    { kind: 'write_sync', standbys: [], modRevision: null },
  ]);
});

test('sync: a streaming standby is added to synchronous_standby_names before /sync', () => {
  const c = syncCluster({ leader: 'pg1', sync_standby: null });
  const s = snapshot({
    cluster: c,
    pg: { replication: [row('pg2', 'async', 900), row('pg3', 'async', 1000)] },
  });
  assert.deepEqual(planSync(s, c), [{ kind: 'set_synchronous_standby_names', value: 'pg3' }]);
  const s2 = snapshot({
    cluster: c,
    pg: { synchronousStandbyNames: 'pg3', replication: [row('pg2', 'async'), row('pg3', 'sync')] },
  });
  assert.deepEqual(planSync(s2, c), [
    { kind: 'write_sync', standbys: ['pg3'], modRevision: c.sync?.modRevision },
  ]);
});

test('sync: a departed standby leaves /sync before synchronous_standby_names', () => {
  const c = syncCluster({ leader: 'pg1', sync_standby: 'pg2' });
  const s = snapshot({ cluster: c, pg: { synchronousStandbyNames: 'pg2', replication: [row('pg3')] } });
  assert.deepEqual(planSync(s, c), [{ kind: 'write_sync', standbys: [], modRevision: c.sync?.modRevision }]);
  const c2 = syncCluster({ leader: 'pg1', sync_standby: null });
  const s2 = snapshot({ cluster: c2, pg: { synchronousStandbyNames: 'pg2', replication: [row('pg3')] } });
  assert.deepEqual(planSync(s2, c2), [{ kind: 'set_synchronous_standby_names', value: 'pg3' }]);
});

test('sync strict: with no standby writes block on "*" rather than go async', () => {
  const c = syncCluster({ leader: 'pg1', sync_standby: null }, { synchronous_mode_strict: true });
  assert.deepEqual(planSync(snapshot({ cluster: c }), c), [
    { kind: 'set_synchronous_standby_names', value: '*' },
  ]);
});

test('sync off: synchronous_standby_names is cleared and /sync deleted', () => {
  const c = cluster({ sync: { leader: 'pg1', sync_standby: 'pg2' } });
  assert.deepEqual(
    planSync(snapshot({ cluster: c, pg: { synchronousStandbyNames: 'pg2' } }), c).map((a) => a.kind),
    ['set_synchronous_standby_names', 'write_sync'],
  );
});

test('synchronous_standby_names formatting round-trips', () => {
  assert.equal(formatSynchronousStandbyNames(['pg3', 'pg2'], 2), '2 (pg2,pg3)');
  assert.equal(formatSynchronousStandbyNames(['Node-1'], 1), '"Node-1"');
  assert.deepEqual(parseSynchronousStandbyNames('2 (pg2,"Node-1")'), ['pg2', 'Node-1']);
  assert.deepEqual(parseSynchronousStandbyNames('*'), []);
});
