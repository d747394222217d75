import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeTake, planCycle, planFound, type CycleInput } from '../../../src/targets/vip/plan.js';
import { vip4, vipView } from './views.js';

const T0 = 1_700_000_000_000;

function input(overrides: Partial<CycleInput>): CycleInput {
  return {
    trigger: 'apply',
    now: T0,
    startedAt: T0 - 10_000,
    scope: 'app',
    config: {
      address: vip4,
      interface: 'eth0',
      member: 'pg1',
      require_writable: false,
      on_dcs_loss: 'ttl',
      startup_grace_ms: 3000,
      duplicate_probe: { enabled: false },
    },
    snapshot: {
      generation: 1,
      views: new Map([['app', vipView('pg1')]]),
      dcs: { isConnected: true, lastContactAt: T0 },
    },
    isHeld: false,
    heldRevision: null,
    lastAbsentAt: Number.NEGATIVE_INFINITY,
    isLinkKnown: false,
    ...overrides,
  };
}

const elsewhere = {
  generation: 2,
  views: new Map([['app', vipView('pg2')]]),
  dcs: { isConnected: true, lastContactAt: T0 },
};

test('within the startup grace and without a view, a cycle waits and touches nothing', () => {
  const step = planCycle(input({ snapshot: null, startedAt: T0 - 1000 }));
  assert.deepEqual(step, {
    kind: 'wait',
    summary: 'waiting for the first view of app before touching 10.0.0.100/24',
  });
});

test('past the startup grace without a view, the VIP is released (etcd has not been read yet)', () => {
  const step = planCycle(input({ snapshot: null, startedAt: T0 - 5000 }));
  assert.equal(step.kind, 'release');
  assert.equal(step.kind === 'release' && step.decision.reason, 'etcd has not been read yet');
});

test('a timer check right after a release does not look again (the next take is not queued behind `ip`)', () => {
  const step = planCycle(input({ snapshot: elsewhere, trigger: 'check', lastAbsentAt: T0 - 500 }));
  assert.equal(step.kind, 'idle');
  assert.equal(
    step.kind === 'idle' && step.summary,
    'not holding 10.0.0.100/24: the leader key of app names pg2, not pg1',
  );
  assert.equal(planCycle(input({ snapshot: elsewhere, lastAbsentAt: T0 - 500 })).kind, 'release');
  assert.equal(
    planCycle(input({ snapshot: elsewhere, trigger: 'check', lastAbsentAt: T0 - 2500 })).kind,
    'release',
  );
});

test('a take uses the known link without querying it, unless the duplicate probe must run first', () => {
  const fast = planCycle(input({ isLinkKnown: true }));
  assert.deepEqual(fast.kind === 'take' && fast.revision, 7);
  assert.equal(planCycle(input({ isLinkKnown: false })).kind, 'inspect');
  assert.equal(planCycle(input({ isLinkKnown: true, isHeld: true, heldRevision: 7 })).kind, 'inspect');
  const probed = input({ isLinkKnown: true });
  assert.equal(
    planCycle({ ...probed, config: { ...probed.config, duplicate_probe: { enabled: true } } }).kind,
    'inspect',
  );
});

test('a VIP found on the interface is announced again only for a reason that names itself', () => {
  const found = {
    isHeld: true,
    linkCameUp: false,
    revision: 7,
    heldRevision: 7,
    needsAnnounce: false,
    isAnnouncing: false,
    member: 'pg1',
    cidr: '10.0.0.100/24',
    iface: 'eth0',
  };
  assert.equal(planFound(found), null);
  assert.equal(planFound({ ...found, isHeld: false }), 'found 10.0.0.100/24 already on eth0, kept it');
  assert.equal(planFound({ ...found, linkCameUp: true }), 'eth0 came back up');
  assert.equal(planFound({ ...found, revision: 8 }), 'new leadership of pg1');
  assert.equal(planFound({ ...found, needsAnnounce: true }), 'the last announcement failed');
  assert.equal(planFound({ ...found, needsAnnounce: true, isAnnouncing: true }), null);
});

test('a take says whether it took, repaired or kept the VIP, and counts takes and repairs apart', () => {
  const t = { cidr: '10.0.0.100/24', iface: 'eth0', frames: '3 ARP', reason: 'why' };
  assert.deepEqual(describeTake({ ...t, added: true, wasHeld: false }), {
    summary: 'took 10.0.0.100/24 on eth0 and announced it (3 ARP): why',
    counter: 'takes',
  });
  assert.equal(describeTake({ ...t, added: true, wasHeld: true }).counter, 'repairs');
  assert.deepEqual(describeTake({ ...t, added: false, wasHeld: false }), {
    summary: 'found 10.0.0.100/24 already on eth0, kept it; announced 10.0.0.100/24 on eth0 (3 ARP): why',
    counter: null,
  });
});
