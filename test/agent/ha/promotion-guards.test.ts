import assert from 'node:assert/strict';
import type { HaSnapshot } from '../../../agent/ha/types.js';
import { cluster, peer, peers, replicaPg, snapshot } from './fixtures.js';
import { testDecideCases, type DecideCase } from './cases.js';

// Patroni's is_healthiest_node / manual_failover_process_no_leader / enforce_primary_role, as cycle sentences.
const syncConfig = { synchronous_mode: true };
const strictConfig = { synchronous_mode: true, synchronous_mode_strict: true };
const asReplica = (name: string, over: Partial<HaSnapshot> = {}): HaSnapshot =>
  snapshot({ pg: replicaPg, name, peers: peers(peer('pg3')), ...over });
/** A replica `name` reading a switchover from pg1 to itself, with pg3 in /sync. */
const switchoverTo = (name: string, config: Record<string, unknown>): HaSnapshot =>
  asReplica(name, {
    cluster: cluster({
      leader: null,
      config,
      sync: { leader: 'pg1', sync_standby: 'pg3' },
      failover: { leader: 'pg1', member: name },
    }),
  });
const nofailover = { isNoFailover: true, failoverPriority: 1, isNoSync: false };

const cases: DecideCase[] = [
  {
    name: 'a /failover key naming a nofailover node is not obeyed by that node',
    s: asReplica('pg2', {
      cluster: cluster({ leader: null, failover: { leader: 'pg1', member: 'pg2' } }),
      tags: nofailover,
    }),
    sentence: 'manual failover: I am tagged nofailover and may not be promoted; not racing',
    actions: [],
  },
  {
    name: 'a failover (no leader named) to a nofailover node is not obeyed either',
    s: asReplica('pg2', {
      cluster: cluster({ leader: null, failover: { member: 'pg2' } }),
      tags: nofailover,
    }),
    sentence: 'manual failover: I am tagged nofailover and may not be promoted; not racing',
    actions: [],
  },
  {
    name: 'a switchover in synchronous mode to a node missing from /sync is not obeyed',
    s: switchoverTo('pg2', syncConfig),
    sentence: 'manual failover: I am not in /sync and may not be promoted in synchronous mode',
    actions: [],
  },
  {
    name: 'a switchover in synchronous mode to the node in /sync is obeyed',
    s: switchoverTo('pg3', syncConfig),
    sentence: 'promoted self to leader by acquiring session lock (manual failover)',
    actions: ['acquire_lock', 'write_sync', 'promote', 'clear_failover'],
  },
  {
    name: 'strict synchronous mode: synchronous_standby_names is * before the promotion',
    s: switchoverTo('pg3', strictConfig),
    sentence: 'promoted self to leader by acquiring session lock (manual failover)',
    actions: ['acquire_lock', 'write_sync', 'set_synchronous_standby_names', 'promote', 'clear_failover'],
  },
  {
    name: 'strict synchronous mode: the lock holder promoting itself sets * first too',
    s: asReplica('pg2', {
      cluster: cluster({ leader: 'pg2', config: strictConfig, sync: { leader: 'pg1', sync_standby: 'pg2' } }),
    }),
    sentence: 'promoted self to leader because I had the session lock',
    actions: ['write_sync', 'set_synchronous_standby_names', 'promote'],
  },
  {
    name: 'non-strict synchronous mode promotes without touching synchronous_standby_names',
    s: asReplica('pg2', {
      cluster: cluster({ leader: 'pg2', config: syncConfig, sync: { leader: 'pg1', sync_standby: 'pg2' } }),
    }),
    sentence: 'promoted self to leader because I had the session lock',
    actions: ['write_sync', 'promote'],
  },
];

testDecideCases(cases, (d) => {
  const ssn = d.actions.find((a) => a.kind === 'set_synchronous_standby_names');
  if (ssn) assert.deepEqual(ssn, { kind: 'set_synchronous_standby_names', value: '*' });
});
