import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildClusterState } from '../../src/cluster/index.js';
import { computeView } from '../../src/route/view.js';
import { patroni407Keys, patroni407Names, patroni407Rest, raw } from '../fixtures.js';

// Keys and REST answers recorded from a real Patroni 4.0.7 (Debian 13) by scripts/record-patroni-fixtures.ts.
const names = patroni407Names();
const rest = patroni407Rest();
const options = { maxReplicaLagBytes: 1024 * 1024 };

test('parses every key of a recorded Patroni 4.0.7 cluster without an invalid value', () => {
  const state = buildClusterState('lab4', patroni407Keys('lab4'));
  assert.deepEqual(state.invalid, []);
  assert.equal(state.leader?.name, names.leader);
  assert.equal(state.members.size, 3);
  assert.equal(state.members.get(names.leader)?.role, 'primary');
  assert.equal(state.members.get(names.leader)?.version, '4.0.7');
  for (const [name, member] of state.members) {
    if (name !== names.leader) assert.equal(member.role, 'replica', `${name} is a replica in its member key`);
  }
  assert.equal(state.config.ttl, 20, 'Patroni 4 raises a ttl below 20 to 20');
  assert.equal(state.config.isFailsafeMode, true);
  assert.equal(state.history.length, 1);
  assert.equal(state.history[0]?.[4], names.leader);
  assert.ok(state.optime !== null && state.optime > 0);
  assert.ok(state.failsafe && Object.keys(state.failsafe).length === 3);
});

test('quorum mode: synchronous_mode "quorum" and the /sync key with its quorum and voters are parsed', () => {
  const state = buildClusterState('lab4', patroni407Keys('lab4'));
  assert.equal(state.config.synchronousMode, 'quorum');
  assert.equal(state.sync?.leader, names.leader);
  assert.equal(state.sync?.quorum, 1);
  const replicas = [...state.members.keys()].filter((n) => n !== names.leader).sort();
  assert.deepEqual([...(state.sync?.standbys ?? [])].sort(), replicas);
});

test('a /sync key without quorum (plain synchronous mode) has quorum null', () => {
  const state = buildClusterState('app', [raw('sync', '{"leader":"pg1","sync_standby":"pg2"}')]);
  assert.equal(state.sync?.quorum, null);
  assert.deepEqual(state.sync?.standbys, ['pg2']);
});

test('a recorded Patroni 4.0.7 cluster routes writes to its role-primary leader and reads to both replicas', () => {
  const view = computeView(buildClusterState('lab4', patroni407Keys('lab4')), options);
  assert.equal(view.leader?.name, names.leader);
  assert.equal(view.leader?.isWritable, true);
  const replicas = view.replicas.map((r) => r.name);
  assert.equal(replicas.length, 2);
  assert.ok(replicas.includes(names.replica));
  assert.ok(!replicas.includes(names.leader));
});

test("the router's write and read choices agree with Patroni 4.0.7's own /primary and /replica checks", () => {
  const state = buildClusterState('lab4', patroni407Keys('lab4'));
  const view = computeView(state, options);
  assert.equal(rest.leader?.['GET /primary']?.status, 200);
  assert.equal(rest.replica?.['GET /primary']?.status, 503);
  assert.equal(rest.replica?.['GET /replica']?.status, 200);
  const leaderBody = rest.leader?.['GET /patroni']?.body as { role?: string };
  assert.equal(leaderBody.role, 'primary', 'Patroni 4 REST says role primary');
  assert.equal(view.leader?.name, names.leader);
  assert.ok(view.replicas.some((r) => r.name === names.replica));
});

test('a standby cluster: its standby_leader is parsed, never routed writes, and serves reads', () => {
  const state = buildClusterState('standby4', patroni407Keys('standby4'));
  assert.deepEqual(state.invalid, []);
  assert.equal(state.leader?.name, names.standby_leader);
  assert.equal(state.members.get(names.standby_leader)?.role, 'standby_leader');
  const view = computeView(state, options);
  assert.equal(view.leader?.name, names.standby_leader);
  assert.equal(view.leader?.isWritable, false);
  assert.match(view.leader?.reason ?? '', /standby_leader of a standby cluster .*never writes/);
  assert.deepEqual(
    view.replicas.map((r) => r.name),
    [names.standby_leader],
  );
  // Patroni agrees: not a primary, but read-only traffic is fine
  assert.equal(rest.standby_leader?.['GET /primary']?.status, 503);
  assert.equal(rest.standby_leader?.['GET /read-only']?.status, 200);
  assert.equal(rest.standby_leader?.['GET /standby-leader']?.status, 200);
});

test('a probe that reports a standby_leader writable does not route writes to it', () => {
  const state = buildClusterState('standby4', patroni407Keys('standby4'));
  const leaderRevision = state.leader?.modRevision ?? 0;
  const view = computeView(state, {
    ...options,
    health: { name: names.standby_leader, leaderRevision, isProbedWritable: true, lostReason: null },
  });
  assert.equal(view.leader?.isWritable, false);
});
