import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideVip, type PolicyInput } from '../../../src/targets/vip/policy.js';
import { vipView as view } from './views.js';

const T0 = 1_700_000_000_000;

function input(overrides: Partial<PolicyInput>): PolicyInput {
  return {
    scope: 'app',
    view: view('pg1'),
    dcs: { isConnected: true, lastContactAt: T0 },
    now: T0,
    member: 'pg1',
    requireWritable: false,
    onDcsLoss: 'ttl',
    heldRevision: null,
    ...overrides,
  };
}

const down = (secondsAgo: number) => ({ isConnected: false, lastContactAt: T0 - secondsAgo * 1000 });

const cases: {
  name: string;
  input: Partial<PolicyInput>;
  action: 'hold' | 'release';
  reason: string;
  dcsState: string;
}[] = [
  {
    name: 'holds when the leader key names this member',
    input: {},
    action: 'hold',
    reason: 'the leader key of app names pg1',
    dcsState: 'connected',
  },
  {
    name: 'releases when the leader key names another member',
    input: { view: view('pg2') },
    action: 'release',
    reason: 'the leader key of app names pg2, not pg1',
    dcsState: 'connected',
  },
  {
    name: 'releases when there is no leader',
    input: { view: view(null) },
    action: 'release',
    reason: 'cluster app has no leader (no leader key, or its holder has no member key)',
    dcsState: 'connected',
  },
  {
    name: 'releases when the cluster has no view',
    input: { view: undefined },
    action: 'release',
    reason: 'cluster app has no keys in etcd',
    dcsState: 'connected',
  },
  {
    name: 'releases before etcd was ever read',
    input: { dcs: { isConnected: false, lastContactAt: null } },
    action: 'release',
    reason: 'etcd has not been read yet',
    dcsState: 'never-read',
  },
  {
    name: 'waits for a writable leader when require_writable is on',
    input: { view: view('pg1', { isWritable: false }), requireWritable: true },
    action: 'release',
    reason: 'waiting for pg1 to accept writes: leader pg1 reports role replica, not primary',
    dcsState: 'connected',
  },
  {
    name: 'keeps a VIP taken under the same leadership when the member key wavers',
    input: { view: view('pg1', { isWritable: false }), requireWritable: true, heldRevision: 7 },
    action: 'hold',
    reason: 'the leader key of app names pg1',
    dcsState: 'connected',
  },
  {
    name: 'takes a non-writable leader when require_writable is off',
    input: { view: view('pg1', { isWritable: false }) },
    action: 'hold',
    reason: 'the leader key of app names pg1',
    dcsState: 'connected',
  },
  {
    name: 'keeps the VIP while etcd is unreachable for less than ttl',
    input: { dcs: down(12.5) },
    action: 'hold',
    reason: 'etcd unreachable for 12.5 s; keeping the VIP while leadership can still be valid (ttl 30 s)',
    dcsState: 'unreachable-within-ttl',
  },
  {
    name: 'drops the VIP once etcd is unreachable for ttl',
    input: { dcs: down(30) },
    action: 'release',
    reason: "etcd unreachable for 30.0 s, longer than the cluster's ttl (30 s): leadership may have moved",
    dcsState: 'unreachable-expired',
  },
  {
    name: 'uses the cluster ttl, not a default',
    input: { dcs: down(11), view: view('pg1', { ttl: 10 }) },
    action: 'release',
    reason: "etcd unreachable for 11.0 s, longer than the cluster's ttl (10 s): leadership may have moved",
    dcsState: 'unreachable-expired',
  },
  {
    name: 'failsafe keeps the VIP past ttl while failsafe_mode is on',
    input: { dcs: down(300), onDcsLoss: 'failsafe', view: view('pg1', { isFailsafeMode: true }) },
    action: 'hold',
    reason: 'etcd unreachable for 300.0 s; keeping the VIP because failsafe_mode is on',
    dcsState: 'unreachable-failsafe',
  },
  {
    name: 'failsafe falls back to ttl when failsafe_mode is off',
    input: { dcs: down(31), onDcsLoss: 'failsafe' },
    action: 'release',
    reason:
      "etcd unreachable for 31.0 s, longer than the cluster's ttl (30 s): leadership may have moved (failsafe_mode is off)",
    dcsState: 'unreachable-expired',
  },
  {
    name: 'ttl policy ignores failsafe_mode',
    input: { dcs: down(31), view: view('pg1', { isFailsafeMode: true }) },
    action: 'release',
    reason: "etcd unreachable for 31.0 s, longer than the cluster's ttl (30 s): leadership may have moved",
    dcsState: 'unreachable-expired',
  },
  {
    name: 'an unreachable etcd never makes another member take the VIP',
    input: { dcs: down(1), view: view('pg2') },
    action: 'release',
    reason: 'the leader key of app names pg2, not pg1',
    dcsState: 'unreachable-within-ttl',
  },
];

for (const c of cases) {
  test(c.name, () => {
    const decision = decideVip(input(c.input));
    assert.equal(decision.action, c.action);
    assert.equal(decision.reason, c.reason);
    assert.equal(decision.dcsState, c.dcsState);
  });
}

test('tells when the clock alone will change the decision', () => {
  const decision = decideVip(input({ dcs: down(10) }));
  assert.equal(decision.recheckAt, T0 + 20_000);
  assert.equal(decideVip(input({})).recheckAt, null);
});

test('a fake clock walking through an outage holds until ttl and releases after it', () => {
  const lastContactAt = T0;
  const actions: string[] = [];
  for (let now = T0; now <= T0 + 40_000; now += 5_000) {
    actions.push(decideVip(input({ now, dcs: { isConnected: false, lastContactAt } })).action);
  }
  assert.deepEqual(actions, [
    'hold',
    'hold',
    'hold',
    'hold',
    'hold',
    'hold',
    'release',
    'release',
    'release',
  ]);
  // contact restored: the view decides again
  assert.equal(
    decideVip(input({ now: T0 + 45_000, dcs: { isConnected: true, lastContactAt: T0 + 45_000 } })).action,
    'hold',
  );
});
