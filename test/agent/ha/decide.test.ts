import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../agent/ha/decide.js';
import type { HaSnapshot } from '../../../agent/ha/types.js';
import { testDecideCases, type DecideCase } from './cases.js';
import { NOW, cluster, emptyPg, member, peer, peers, replicaPg, snapshot, stoppedPg } from './fixtures.js';

const kinds = (s: HaSnapshot) => decide(s).actions.map((a) => a.kind);

const noLeader = (over: Parameters<typeof cluster>[0] = {}) => cluster({ leader: null, ...over });
const asReplica = { pg: replicaPg, name: 'pg2' };

/** PostgreSQL runs but the status query failed (e.g. the agent's role may not log in): role unknown. */
const unqueryable = { ...replicaPg, isInRecovery: null, followingMember: null, state: 'running' };

const cases: DecideCase[] = [
  {
    name: 'the lock holder whose status query fails is not promoted (it may be a primary already): it tries again later',
    s: snapshot({ pg: unqueryable }),
    sentence: 'error communicating with PostgreSQL (running); will try again later',
    actions: [],
  },
  {
    name: 'a lock holder whose status query fails still demotes once its lease is past its safe end',
    s: snapshot({ pg: unqueryable, lease: { id: '7', safeUntil: NOW } }),
    sentence: 'demoting self because the leader lease could not be renewed in time',
    actions: ['demote'],
  },
  {
    name: 'a node whose status query fails does not race for an empty leader key',
    s: snapshot({ name: 'pg2', pg: unqueryable, cluster: noLeader() }),
    sentence: 'error communicating with PostgreSQL (running); will try again later',
    actions: [],
  },
  {
    name: 'the leader with the lock takes no action but keeps its keys up to date',
    s: snapshot(),
    sentence: 'no action. I am (pg1), the leader with the lock',
    actions: ['write_status'],
  },
  {
    name: 'a replica following the leader takes no action',
    s: snapshot(asReplica),
    sentence: 'no action. I am (pg2), a secondary, and following a leader (pg1)',
    actions: [],
  },
  {
    name: 'bootstrap race: an empty node with no initialize key tries to bootstrap',
    s: snapshot({ pg: emptyPg, cluster: cluster({ leader: null, initialize: null, members: {} }) }),
    sentence: 'trying to bootstrap a new cluster',
    actions: ['bootstrap'],
  },
  {
    name: 'bootstrap race: a nofailover node never bootstraps',
    s: snapshot({
      pg: emptyPg,
      cluster: cluster({ leader: null, initialize: null, members: {} }),
      tags: { isNoFailover: true, failoverPriority: 0, isNoSync: false },
    }),
    sentence: 'waiting for leader to bootstrap (I am tagged nofailover)',
    actions: [],
  },
  {
    name: 'bootstrap race: the loser (initialize taken, no leader yet) waits',
    s: snapshot({
      pg: emptyPg,
      name: 'pg2',
      cluster: cluster({ leader: null, initialize: '', members: {} }),
    }),
    sentence: 'waiting for leader to bootstrap',
    actions: [],
  },
  {
    name: 'an empty replica clones from the leader',
    s: snapshot({
      pg: emptyPg,
      name: 'pg3',
      cluster: cluster({ members: { pg1: member('pg1', { role: 'master' }) } }),
    }),
    sentence: "trying to bootstrap from leader 'pg1'",
    actions: ['clone'],
  },
  {
    name: 'an empty replica prefers a clonefrom member',
    s: snapshot({
      pg: emptyPg,
      name: 'pg3',
      cluster: cluster({
        members: {
          pg1: member('pg1', { role: 'master' }),
          pg2: member('pg2', { tags: { clonefrom: true } }),
        },
      }),
    }),
    sentence: "trying to bootstrap from replica 'pg2'",
    actions: ['clone'],
  },
  {
    name: 'a data directory from another cluster is refused',
    s: snapshot({ pg: { systemId: '1234' } }),
    sentence: /data directory belongs to another cluster \(system identifier 1234/,
    actions: ['fatal'],
  },
  {
    name: 'leader race: the healthiest replica acquires the lock and promotes',
    s: snapshot({ ...asReplica, cluster: noLeader(), peers: peers(peer('pg3', { walPosition: 900 })) }),
    sentence: 'promoted self to leader by acquiring session lock',
    actions: ['acquire_lock', 'promote'],
  },
  {
    name: 'leader race: a replica behind another does not race',
    s: snapshot({ ...asReplica, cluster: noLeader(), peers: peers(peer('pg3', { walPosition: 1100 })) }),
    sentence: 'not the healthiest node: pg3 is ahead of me (1100 > 1000)',
    actions: [],
  },
  {
    name: 'leader race: lag guard against /status optime',
    s: snapshot({ ...asReplica, cluster: noLeader({ optime: 1000 + 2 * 1048576 }) }),
    sentence: 'not the healthiest node: my lag 2097152 bytes exceeds maximum_lag_on_failover 1048576',
    actions: [],
  },
  {
    name: 'leader race: primary still alive',
    s: snapshot({ ...asReplica, cluster: noLeader(), peers: peers(peer('pg1', { isInRecovery: false })) }),
    sentence: 'not the healthiest node: Primary (pg1) is still alive',
    actions: [],
  },
  {
    name: 'leader race: equal positions, higher failover_priority wins',
    s: snapshot({ ...asReplica, cluster: noLeader(), peers: peers(peer('pg3', { failoverPriority: 5 })) }),
    sentence: 'not the healthiest node: pg3 has a higher failover_priority (5 > 1)',
    actions: [],
  },
  {
    name: 'leader race: a nofailover peer ahead of me does not stop me',
    s: snapshot({
      ...asReplica,
      cluster: noLeader(),
      peers: peers(peer('pg3', { walPosition: 2000, isNoFailover: true })),
    }),
    sentence: 'promoted self to leader by acquiring session lock',
    actions: ['acquire_lock', 'promote'],
  },
  {
    name: 'leader race: a nofailover node never races',
    s: snapshot({
      ...asReplica,
      cluster: noLeader(),
      tags: { isNoFailover: true, failoverPriority: 1, isNoSync: false },
    }),
    sentence: 'no leader; I am tagged nofailover and do not race',
    actions: [],
  },
  {
    name: 'leader race: a timeline behind the cluster loses',
    s: snapshot({ ...asReplica, pg: { ...replicaPg, timeline: 1 }, cluster: noLeader() }),
    sentence: 'not the healthiest node: my timeline 1 is behind the cluster timeline 2',
    actions: [],
  },
  {
    name: 'a primary that lost the lock keeps running if it is still healthiest and retakes it',
    s: snapshot({ cluster: noLeader() }),
    sentence: 'acquired session lock as a leader',
    actions: ['acquire_lock'],
  },
  {
    name: 'another leader holds the key: a running primary demotes at once',
    s: snapshot({ cluster: cluster({ leader: 'pg2' }) }),
    sentence: 'demoting self because I do not have the lock and I was a leader',
    actions: ['demote'],
  },
  {
    name: 'a replica following the wrong member repoints to the leader',
    s: snapshot({ ...asReplica, pg: { ...replicaPg, followingMember: 'pg3' } }),
    sentence: 'following new leader pg1',
    actions: ['follow'],
  },
  {
    name: 'the lock holder whose PostgreSQL crashed restarts it as primary in asynchronous mode (default primary_start_timeout 300 s)',
    s: snapshot({ pg: stoppedPg }),
    sentence: /^starting primary after failure \(primary_start_timeout 300 s, default\)/,
    actions: ['start_primary'],
  },
  {
    name: 'a stopped former primary rejoins the new leader with pg_rewind when it wrote past the switch point',
    s: snapshot({
      pg: { ...stoppedPg, timeline: 2, walPosition: 1500 },
      cluster: cluster({
        leader: 'pg2',
        history: [
          [1, 500, 'x'],
          [2, 1200, 'x'],
        ],
      }),
    }),
    sentence: 'starting as a secondary following pg2 after pg_rewind',
    actions: ['start_replica'],
  },
  {
    name: 'the leader whose lease could not be renewed in time demotes before the ttl runs out',
    s: snapshot({ lease: { id: '7', safeUntil: NOW - 1 } }),
    sentence: 'demoting self because the leader lease could not be renewed in time',
    actions: ['demote'],
  },
  {
    name: 'the leader key carrying an older lease of mine is moved to my lease by value compare',
    s: snapshot({ cluster: cluster({ leaderLease: '5' }) }),
    sentence: 'no action. I am (pg1), the leader with the lock',
    actions: ['take_over_own_key', 'write_status'],
  },
  {
    name: 'the lock holder still in recovery promotes',
    s: snapshot({ pg: { ...replicaPg } }),
    sentence: 'promoted self to leader because I had the session lock',
    actions: ['promote'],
  },
  {
    name: 'the leader writes /history when its timeline moved past the cluster timeline',
    s: snapshot({ pg: { timeline: 3 } }),
    sentence: 'no action. I am (pg1), the leader with the lock',
    actions: ['write_status', 'write_history'],
  },
  {
    name: 'failsafe mode: the leader publishes /failsafe',
    s: snapshot({ cluster: cluster({ config: { failsafe_mode: true } }) }),
    sentence: 'no action. I am (pg1), the leader with the lock',
    actions: ['write_status', 'write_failsafe'],
  },
  {
    name: 'DCS unreachable past the lease deadline: the primary demotes',
    s: snapshot({ cluster: null, lease: { id: '7', safeUntil: NOW } }),
    sentence: 'demoted self because DCS is not accessible and I was a leader',
    actions: ['demote'],
  },
  {
    name: 'DCS unreachable within the lease: the primary holds until the deadline',
    s: snapshot({ cluster: null }),
    sentence: 'DCS is not accessible; still the leader until the lease deadline (8 s)',
    actions: [],
  },
  {
    name: 'DCS unreachable with failsafe and every member accepting: the primary stays',
    s: snapshot({ cluster: null, failsafeAllAccepted: true }),
    sentence: 'continue to run as a leader because failsafe mode is enabled and all members are accessible',
    actions: [],
  },
  {
    name: 'DCS unreachable: a replica only reports it',
    s: snapshot({ ...asReplica, cluster: null }),
    sentence: 'DCS is not accessible',
    actions: [],
  },
  {
    name: 'failsafe: a replica told by the primary that it is alive does not race',
    s: snapshot({ ...asReplica, cluster: noLeader(), failsafeLeaderAliveUntil: NOW + 1000 }),
    sentence: 'no leader key, but the primary confirmed it is alive (failsafe); not racing',
    actions: [],
  },
  {
    name: 'pause: the leader keeps its lock and does nothing else',
    s: snapshot({ cluster: cluster({ config: { pause: true } }), lease: { id: '7', safeUntil: NOW - 1 } }),
    sentence: 'PAUSE: no action. I am (pg1), the leader with the lock',
    actions: ['write_status'],
  },
  {
    name: 'pause: no race without a leader',
    s: snapshot({ ...asReplica, cluster: noLeader({ config: { pause: true } }) }),
    sentence: 'PAUSE: no leader; not racing',
    actions: [],
  },
  {
    name: 'pause: a primary without lock is not demoted',
    s: snapshot({ cluster: cluster({ leader: 'pg2', config: { pause: true } }) }),
    sentence: 'PAUSE: continue to run as primary without lock (leader is pg2)',
    actions: [],
  },
  {
    name: 'pause: a stopped PostgreSQL is not started',
    s: snapshot({ pg: stoppedPg, cluster: cluster({ config: { pause: true } }) }),
    sentence: 'PAUSE: PostgreSQL is not running; not starting it (stopped)',
    actions: [],
  },
  {
    name: 'sync mode: a replica not in /sync may not race',
    s: snapshot({
      ...asReplica,
      cluster: noLeader({ config: { synchronous_mode: true }, sync: { leader: 'pg1', sync_standby: 'pg3' } }),
    }),
    sentence: 'no leader; I am not a synchronous standby and may not be promoted',
    actions: [],
  },
  {
    name: 'sync mode: the sync standby races and writes /sync before promoting',
    s: snapshot({
      ...asReplica,
      cluster: noLeader({ config: { synchronous_mode: true }, sync: { leader: 'pg1', sync_standby: 'pg2' } }),
      peers: peers(peer('pg3', { walPosition: 5000 })),
    }),
    sentence: 'promoted self to leader by acquiring session lock',
    actions: ['acquire_lock', 'write_sync', 'promote'],
  },
];

testDecideCases(cases);

test('decide is pure: the same snapshot gives the same decision', () => {
  const s = snapshot({ ...asReplica, cluster: noLeader(), peers: peers(peer('pg3')) });
  assert.deepEqual(decide(s), decide(s));
  assert.deepEqual(kinds(s), ['acquire_lock', 'promote']);
});
