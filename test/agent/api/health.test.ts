import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClusterState, type RawKey } from '../../../src/cluster/index.js';
import { healthStatus } from '../../../agent/api/health.js';
import type { NodeView } from '../../../agent/api/view.js';
import { replicationState } from '../../../agent/observe.js';
import type { RunningStatus } from '../../../agent/postgres/query.js';
import { readFixture } from '../../fixtures.js';

// The recorded Patroni 4.0.7 cluster (quorum mode, optime 117440608): what a 4.x agent faces.
const keys = JSON.parse(readFixture('patroni-4.0.7-keys.json')).keys as Record<
  string,
  { value: string; lease: boolean; mod_revision: number }
>;
const raw: RawKey[] = Object.entries(keys)
  .filter(([k]) => k.startsWith('/service/lab4/'))
  .map(([k, v]) => ({
    key: k.slice('/service/lab4/'.length),
    value: v.value,
    modRevision: v.mod_revision,
    lease: v.lease ? '42' : '0',
  }));
const cluster = buildClusterState('lab4', raw);
const paused = buildClusterState(
  'lab4',
  raw.map((r) =>
    r.key === 'config' ? { ...r, value: JSON.stringify({ ...JSON.parse(r.value), pause: true }) } : r,
  ),
);
const OPTIME = 117440608;

const replicaPg: RunningStatus = {
  isInRecovery: true,
  flushLsn: null,
  receiveLsn: OPTIME,
  replayLsn: OPTIME,
  timeline: 2,
  systemId: '7713048675981969515',
  synchronousStandbyNames: '',
  primaryConninfo: null,
  postmasterStartTime: '2026-11-28 02:48:22.567164+00',
  serverVersion: 170012,
  replayedTimestamp: null,
  isReplayPaused: false,
  walReceiverStreaming: true,
  replication: [],
};
const leaderPg: RunningStatus = {
  ...replicaPg,
  isInRecovery: false,
  flushLsn: OPTIME,
  walReceiverStreaming: false,
};
const NOW = 1795834110_000;

const view = (over: Partial<NodeView> = {}): NodeView => ({
  name: 'pg1',
  scope: 'lab4',
  pgState: 'running',
  pg: replicaPg,
  isLeader: false,
  cluster,
  isDcsReachable: true,
  dcsLastSeen: NOW,
  tags: {},
  isFailsafeActive: false,
  lastCycleAt: NOW - 1000,
  lastSentence: '',
  now: NOW,
  ...over,
});

// ttl is 20 in the recorded config: liveness allows 20 s for the leader, 40 s for a replica.
const cases: [string, Partial<NodeView>, string, 200 | 503][] = [
  ['leader', { name: 'pg2', isLeader: true, pg: leaderPg }, '', 200],
  ['replica streaming at the leader position', {}, '', 200],
  ['replica streaming within ?lag', { pg: { ...replicaPg, replayLsn: OPTIME - 1000 } }, 'lag=16kB', 200],
  ['replica lagging past ?lag', { pg: { ...replicaPg, replayLsn: OPTIME - 20000 } }, 'lag=16kB', 503],
  [
    'replica lagging past maximum_lag_on_failover (1 MB)',
    { pg: { ...replicaPg, replayLsn: OPTIME - 2 * 1048576 } },
    '',
    503,
  ],
  [
    'replica that received but did not replay, mode=write',
    { pg: { ...replicaPg, replayLsn: OPTIME - 2 * 1048576 } },
    'mode=write',
    200,
  ],
  [
    'replica not streaming (archive recovery)',
    { pg: { ...replicaPg, walReceiverStreaming: false } },
    '',
    503,
  ],
  ['replica with PostgreSQL stopped', { pgState: 'stopped', pg: null }, '', 503],
  [
    'replica of a paused cluster that is not streaming',
    { cluster: paused, pg: { ...replicaPg, walReceiverStreaming: false } },
    '',
    503,
  ],
];

for (const [name, over, query, want] of cases) {
  test(`readiness answers ${want} for a ${name}`, () => {
    assert.equal(healthStatus('/readiness', new URLSearchParams(query), view(over)), want);
  });
}

const liveness: [string, Partial<NodeView>, 200 | 503][] = [
  ['leader whose loop ran 19 s ago', { isLeader: true, pg: leaderPg, lastCycleAt: NOW - 19_000 }, 200],
  [
    'leader whose loop last ran 21 s ago (past ttl)',
    { isLeader: true, pg: leaderPg, lastCycleAt: NOW - 21_000 },
    503,
  ],
  ['replica whose loop ran 39 s ago', { lastCycleAt: NOW - 39_000 }, 200],
  ['replica whose loop last ran 41 s ago (past 2*ttl)', { lastCycleAt: NOW - 41_000 }, 503],
  ['replica with PostgreSQL stopped but a live loop', { pgState: 'stopped', pg: null }, 200],
  ['paused cluster whose loop is stuck', { cluster: paused, lastCycleAt: NOW - 600_000 }, 200],
];
for (const [name, over, want] of liveness) {
  test(`liveness answers ${want} for a ${name}`, () => {
    assert.equal(healthStatus('/liveness', new URLSearchParams(), view(over)), want);
  });
}

test('a streaming replica writes replication_state streaming, like the recorded Patroni 4.0.7 replica', () => {
  const recorded = JSON.parse(keys['/service/lab4/members/pg1']!.value) as Record<string, unknown>;
  assert.equal(replicationState(replicaPg), recorded['replication_state']);
  assert.equal(replicationState({ ...replicaPg, walReceiverStreaming: false }), 'in archive recovery');
  const leader = JSON.parse(keys['/service/lab4/members/pg2']!.value) as Record<string, unknown>;
  assert.equal(replicationState(leaderPg), leader['replication_state'] ?? null);
});
