import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClusterState } from '../../../src/cluster/index.js';
import { clusterAsJson } from '../../../src/cluster/cluster-json.js';
import { statusDocument, type NodeView } from '../../../agent/api/view.js';
import { healthStatus } from '../../../agent/api/health.js';
import type { RunningStatus } from '../../../agent/postgres/query.js';
import { patroni302Keys, readFixture } from '../../fixtures.js';

const rest = JSON.parse(readFixture('patroni-3.0.2-rest.json'));
const cluster = buildClusterState('lab', patroni302Keys());

test('GET /cluster body equals Patroni 3.0.2 for the recorded keys', () => {
  assert.deepEqual(clusterAsJson(cluster), rest.GET_cluster);
});

const leaderPg: RunningStatus = {
  isInRecovery: false,
  flushLsn: 84068584,
  receiveLsn: null,
  replayLsn: null,
  timeline: 11,
  systemId: '7711014012193992191',
  synchronousStandbyNames: 'node1',
  primaryConninfo: null,
  postmasterStartTime: '2026-11-22 15:23:39.386366+00',
  serverVersion: 150020,
  replayedTimestamp: null,
  isReplayPaused: false,
  walReceiverStreaming: false,
  replication: [
    {
      usename: 'replicator',
      applicationName: 'node1',
      clientAddr: '127.0.0.1',
      state: 'streaming',
      syncState: 'sync',
      syncPriority: 1,
      flushLsn: 1,
    },
    {
      usename: 'replicator',
      applicationName: 'node2',
      clientAddr: '127.0.0.1',
      state: 'streaming',
      syncState: 'async',
      syncPriority: 0,
      flushLsn: 1,
    },
  ],
};

const view = (over: Partial<NodeView> = {}): NodeView => ({
  name: 'node3',
  scope: 'lab',
  pgState: 'running',
  pg: leaderPg,
  isLeader: true,
  cluster,
  isDcsReachable: true,
  dcsLastSeen: 1795361165_000,
  tags: {},
  isFailsafeActive: false,
  lastCycleAt: 1795361165_000,
  lastSentence: '',
  now: 1795361166_000,
  ...over,
});

test('GET /patroni on the leader has Patroni 3.0.2 fields in order (plus patroni.name)', () => {
  const expected = {
    ...rest.leader_GET_patroni,
    patroni: { ...rest.leader_GET_patroni.patroni, name: 'node3' },
  };
  const doc = statusDocument(view());
  assert.deepEqual(doc, expected);
  assert.deepEqual(Object.keys(doc), Object.keys(expected));
});

test('GET /patroni on the sync standby matches Patroni 3.0.2', () => {
  const pg: RunningStatus = {
    ...leaderPg,
    isInRecovery: true,
    flushLsn: null,
    receiveLsn: 84068584,
    replayLsn: 84068584,
    postmasterStartTime: '2026-11-22 15:24:04.364645+00',
    replayedTimestamp: '2026-11-22 15:25:53.632579+00',
    replication: [],
  };
  const expected = {
    ...rest.sync_standby_GET_patroni,
    patroni: { ...rest.sync_standby_GET_patroni.patroni, name: 'node1' },
  };
  assert.deepEqual(statusDocument(view({ name: 'node1', pg, isLeader: false })), expected);
});

test('health paths answer like Patroni for a leader and a sync standby', () => {
  const q = new URLSearchParams();
  const leader = view();
  for (const p of [
    '/',
    '/primary',
    '/master',
    '/read-write',
    '/leader',
    '/read-only',
    '/health',
    '/readiness',
    '/liveness',
  ]) {
    assert.equal(healthStatus(p, q, leader), 200, p);
  }
  for (const p of ['/replica', '/sync', '/async', '/standby-leader'])
    assert.equal(healthStatus(p, q, leader), 503, p);
  const replica = view({
    name: 'node1',
    isLeader: false,
    pg: { ...leaderPg, isInRecovery: true, replayLsn: 84068584 },
  });
  for (const p of ['/replica', '/sync', '/synchronous', '/read-only', '/health'])
    assert.equal(healthStatus(p, q, replica), 200, p);
  for (const p of ['/', '/primary', '/leader', '/async']) assert.equal(healthStatus(p, q, replica), 503, p);
  assert.equal(healthStatus('/replica', new URLSearchParams('tag_nofailover=true'), replica), 503);
  assert.equal(healthStatus('/replica', new URLSearchParams('lag=1MB'), replica), 200);
  assert.equal(healthStatus('/unknown', q, replica), null);
});

test('a leader whose lease is no longer certainly alive is not a primary for health checks', () => {
  assert.equal(healthStatus('/primary', new URLSearchParams(), view({ isLeader: false })), 503);
});
