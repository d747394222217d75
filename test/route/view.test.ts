import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildClusterState } from '../../src/cluster/index.js';
import { computeView, isSameView, judgeLeader, leaderHealthState } from '../../src/route/view.js';
import { member4x, raw } from '../fixtures.js';

const options = { maxReplicaLagBytes: 1024 * 1024 };

function cluster(extra: ReturnType<typeof raw>[] = [], leaderState = 'running', leaderRole = 'primary') {
  return buildClusterState('app', [
    raw('leader', 'pg1', 77, '5'),
    raw(
      'members/pg1',
      member4x({ port: 5432, apiPort: 8008, role: leaderRole, state: leaderState, xlog: 100_000_000 }),
    ),
    raw('members/pg2', member4x({ port: 5433, apiPort: 8009, xlog: 100_000_000 })),
    raw('members/pg3', member4x({ port: 5434, apiPort: 8010, xlog: 100_000_000 })),
    raw('status', '{"optime":100000000}'),
    ...extra,
  ]);
}

test('routes writes to the leader-key holder once it reports running primary', () => {
  const view = computeView(cluster(), options);
  assert.equal(view.leader?.name, 'pg1');
  assert.equal(view.leader?.isWritable, true);
  assert.equal(view.leader?.leaderRevision, 77);
  assert.deepEqual(
    view.replicas.map((r) => r.name),
    ['pg2', 'pg3'],
  );
});

test('a leader still in recovery (role replica) is not writable, with the reason', () => {
  const view = computeView(cluster([], 'running', 'replica'), options);
  assert.equal(view.leader?.isWritable, false);
  assert.match(view.leader?.reason ?? '', /role replica, not primary/);
});

test('a leader not running is not writable', () => {
  const view = computeView(cluster([], 'starting'), options);
  assert.equal(view.leader?.isWritable, false);
  assert.match(view.leader?.reason ?? '', /state "starting"/);
});

test('a successful probe of the same leadership makes the leader writable before its member key says so', () => {
  const state = cluster([], 'running', 'replica');
  assert.equal(
    computeView(state, {
      ...options,
      health: { name: 'pg1', leaderRevision: 77, isProbedWritable: true, lostReason: null },
    }).leader?.isWritable,
    true,
  );
  assert.equal(
    computeView(state, {
      ...options,
      health: { name: 'pg1', leaderRevision: 76, isProbedWritable: true, lostReason: null },
    }).leader?.isWritable,
    false,
    'a probe of an earlier leadership must not count',
  );
});

test('no leader key means no writer; replicas keep serving', () => {
  const state = buildClusterState('app', [raw('members/pg2', member4x({ port: 5433, apiPort: 8009 }))]);
  const view = computeView(state, options);
  assert.equal(view.leader, null);
  assert.deepEqual(
    view.replicas.map((r) => r.name),
    ['pg2'],
  );
});

test('replicas with noloadbalance, lag over the limit, or not running are not eligible for reads', () => {
  const view = computeView(
    cluster([
      raw(
        'members/pg2',
        member4x({ port: 5433, apiPort: 8009, xlog: 100_000_000, tags: { noloadbalance: true } }),
      ),
      raw('members/pg3', member4x({ port: 5434, apiPort: 8010, xlog: 90_000_000 })),
      raw('members/pg4', member4x({ port: 5435, apiPort: 8011, state: 'stopped' })),
    ]),
    options,
  );
  assert.deepEqual(view.replicas, []);
  assert.equal(view.members.length, 4);
});

test('member churn (xlog_location moving) produces the same view', () => {
  const a = computeView(cluster(), options);
  const b = computeView(
    cluster([
      raw('members/pg2', member4x({ port: 5433, apiPort: 8009, xlog: 100_000_500 })),
      raw('status', '{"optime":100000900}'),
    ]),
    options,
  );
  assert.ok(isSameView(a, b));
});

test('any change of routing content makes a different view', () => {
  const a = computeView(cluster(), options);
  const leader = a.leader as NonNullable<typeof a.leader>;
  const server = a.members[0] as (typeof a.members)[number];
  const variants: Array<[string, typeof a]> = [
    ['scope', { ...a, scope: 'other' }],
    ['ttl', { ...a, ttl: a.ttl + 1 }],
    ['failsafe', { ...a, isFailsafeMode: !a.isFailsafeMode }],
    ['no leader', { ...a, leader: null }],
    ['leader host', { ...a, leader: { ...leader, host: '10.0.0.9' } }],
    ['leader port', { ...a, leader: { ...leader, port: leader.port + 1 } }],
    ['leader api', { ...a, leader: { ...leader, api: null } }],
    ['leader writable', { ...a, leader: { ...leader, isWritable: !leader.isWritable } }],
    ['leader reason', { ...a, leader: { ...leader, reason: 'probing' } }],
    ['leader revision', { ...a, leader: { ...leader, leaderRevision: leader.leaderRevision + 1 } }],
    ['replica dropped', { ...a, replicas: a.replicas.slice(1) }],
    [
      'member api port',
      { ...a, members: [{ ...server, api: { host: '127.0.0.1', port: 1 } }, ...a.members.slice(1)] },
    ],
    ['member name', { ...a, members: [{ ...server, name: 'pgX' }, ...a.members.slice(1)] }],
  ];
  assert.ok(isSameView(a, { ...a }));
  for (const [what, b] of variants) assert.equal(isSameView(a, b), false, what);
  // Every field of a view is covered above: a new field must be added to isSameView and here.
  assert.deepEqual(Object.keys(a).sort(), [
    'isFailsafeMode',
    'leader',
    'members',
    'replicas',
    'scope',
    'ttl',
  ]);
});

// Which fact for which inputs: the member key, the writable probe and the liveness of one leadership.
const judged: [
  string,
  { role: string; state: string },
  { probed: boolean; lost: string | null } | null,
  string,
  string | null,
][] = [
  ['a running primary with no health fact', { role: 'primary', state: 'running' }, null, 'writable', null],
  [
    'a leader still in recovery, not probed',
    { role: 'replica', state: 'running' },
    null,
    'not_writable',
    'role replica',
  ],
  [
    'a leader still in recovery the probe found writable',
    { role: 'replica', state: 'running' },
    { probed: true, lost: null },
    'writable',
    null,
  ],
  [
    'a standby_leader the probe found writable',
    { role: 'standby_leader', state: 'running' },
    { probed: true, lost: null },
    'not_writable',
    'standby_leader',
  ],
  [
    'a running primary whose held session ended',
    { role: 'primary', state: 'running' },
    { probed: false, lost: 'the session held on 127.0.0.1:5432 ended' },
    'lost',
    'held on',
  ],
  [
    'a probed-writable leader whose port refuses',
    { role: 'replica', state: 'running' },
    { probed: true, lost: '127.0.0.1:5432 refused a connection' },
    'lost',
    'refused',
  ],
  [
    'a starting leader (not running) that is lost',
    { role: 'primary', state: 'starting' },
    { probed: false, lost: 'x refused a connection' },
    'lost',
    'refused',
  ],
];
for (const [name, member, fact, want, why] of judged) {
  test(`judgeLeader: ${name} is ${want}`, () => {
    const state = cluster([], member.state, member.role);
    const m = state.members.get('pg1');
    assert.ok(m);
    const health = fact && {
      name: 'pg1',
      leaderRevision: 77,
      isProbedWritable: fact.probed,
      lostReason: fact.lost,
    };
    const j = judgeLeader(m, health);
    const leader = { ...j, name: 'pg1', host: 'h', port: 1, api: null, leaderRevision: 77 };
    assert.equal(leaderHealthState(leader), want);
    const text = want === 'lost' ? j.lostReason : j.reason;
    if (why === null) assert.equal(text, null);
    else assert.match(text ?? '', new RegExp(why));
    assert.equal(j.isLost, want === 'lost');
  });
}

test('a lost fact counts only for the same leadership, and a change of it is a new view', () => {
  const state = cluster();
  const lost = {
    name: 'pg1',
    leaderRevision: 77,
    isProbedWritable: false,
    lostReason: '127.0.0.1:5432 refused a connection',
  };
  const alive = computeView(state, options);
  const dead = computeView(state, { ...options, health: lost });
  assert.equal(dead.leader?.isLost, true);
  assert.equal(
    dead.leader?.isWritable,
    true,
    'writes stay routed by the member key: only PgBouncer acts on lost',
  );
  assert.equal(isSameView(alive, dead), false);
  assert.equal(
    computeView(state, { ...options, health: { ...lost, leaderRevision: 76 } }).leader?.isLost,
    false,
  );
  assert.equal(computeView(state, { ...options, health: { ...lost, name: 'pg2' } }).leader?.isLost, false);
});
