import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildClusterState, isSafeScope, memberLag, splitKey } from '../../src/cluster/index.js';
import { member4x, patroni302Keys, raw } from '../fixtures.js';

test('parses every key of a recorded Patroni 3.0.2 cluster without an invalid value', () => {
  const state = buildClusterState('lab', patroni302Keys());
  assert.deepEqual(state.invalid, []);
  assert.equal(state.leader?.name, 'node3');
  assert.deepEqual([...state.members.keys()].sort(), ['node1', 'node2', 'node3']);
  const leader = state.members.get('node3');
  assert.equal(leader?.role, 'primary', '3.0.2 writes role "master"; the model calls it primary');
  assert.equal(leader?.host, '127.0.0.1');
  assert.equal(leader?.port, 24013);
  assert.deepEqual(leader?.api && { host: leader.api.host, port: leader.api.port }, {
    host: '127.0.0.1',
    port: 24023,
  });
  assert.equal(state.config.ttl, 10);
  assert.equal(state.config.loopWait, 2);
  assert.equal(state.config.isFailsafeMode, true);
  assert.equal(state.config.synchronousMode, true);
  assert.equal(state.optime, 84068584);
  assert.deepEqual(state.sync && { leader: state.sync.leader, standbys: state.sync.standbys }, {
    leader: 'node3',
    standbys: ['node1'],
  });
  assert.equal(state.history.length, 10);
  assert.equal(state.failover, null, 'an empty {} failover key means nothing pending');
  assert.equal(state.initialize, '7711014012193992191');
});

test('accepts Patroni 4.x member values with role "primary" and replica LSN fields', () => {
  const state = buildClusterState('demo', [
    raw('leader', 'pg1', 50, '42'),
    raw('members/pg1', member4x({ port: 5432, apiPort: 8008, role: 'primary', tags: { clonefrom: true } })),
    raw('members/pg2', member4x({ port: 5433, apiPort: 8009, xlog: 67000000 })),
    raw('status', '{"optime":67395656,"slots":{"pg1":67395656,"pg2":67395656},"retain_slots":["pg2"]}'),
  ]);
  assert.deepEqual(state.invalid, []);
  assert.equal(state.members.get('pg1')?.role, 'primary');
  assert.equal(state.members.get('pg2')?.replicationState, 'streaming');
  assert.equal(memberLag(state, state.members.get('pg2')!), 395656);
});

test('ignores and reports hostile or malformed member values instead of using them', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['members/bad-json', '{"conn_url": ', /not JSON/],
    ['members/wrong-type', JSON.stringify({ conn_url: 5, state: 'running', role: 'replica' }), /conn_url/],
    ['members/space-host', member4x({ port: 5432, apiPort: 8008, host: 'a b' }), /not a URL|host/],
    [
      'members/newline',
      JSON.stringify({
        conn_url: 'postgres://h\nserver evil 1.2.3.4:5432/postgres',
        state: 'running',
        role: 'replica',
      }),
      /conn_url/,
    ],
    [
      'members/hash',
      JSON.stringify({ conn_url: 'postgres://host#x:5432/postgres', state: 'running', role: 'replica' }),
      /conn_url/,
    ],
    [
      'members/port',
      JSON.stringify({ conn_url: 'postgres://10.0.0.1:70000/postgres', state: 'running', role: 'replica' }),
      /conn_url/,
    ],
    [
      'members/role',
      JSON.stringify({ conn_url: 'postgres://10.0.0.1:5432/postgres', state: 'running', role: 'boss' }),
      /role/,
    ],
    ['members/pg 1\nserver x', member4x({ port: 5432, apiPort: 8008 }), /unsafe characters/],
    [
      'members/api',
      JSON.stringify({
        conn_url: 'postgres://10.0.0.1:5432/postgres',
        api_url: 'ftp://x/patroni',
        state: 'running',
        role: 'replica',
      }),
      /api_url/,
    ],
  ];
  const state = buildClusterState('demo', [
    raw('members/good', member4x({ port: 5432, apiPort: 8008 })),
    ...cases.map(([k, v]) => raw(k, v)),
  ]);
  assert.deepEqual([...state.members.keys()], ['good']);
  for (const [key, , reason] of cases) {
    const found = state.invalid.find((i) => i.key === key);
    assert.ok(found, `expected ${JSON.stringify(key)} to be reported`);
    assert.match(found.reason, reason);
  }
});

test('a member whose conn_url hides a second HAProxy line after a newline is invalid, not normalised', () => {
  const hostile = JSON.stringify({
    conn_url: 'postgres://6.6.6.6:5432/postgres\n    server pwn1 6.6.6.6:1',
    state: 'running',
    role: 'replica',
  });
  const state = buildClusterState('demo', [raw('members/pwn', hostile)]);
  assert.equal(state.members.size, 0, 'the WHATWG URL parser would drop the newline and accept it');
  assert.deepEqual(state.invalid, [
    {
      scope: 'demo',
      key: 'members/pwn',
      reason: 'conn_url: must not contain control characters (newline, tab, ...)',
    },
  ]);
});

test('control characters in api_url, state, version, tags, failover and sync values are rejected', () => {
  const base = { conn_url: 'postgres://10.0.0.1:5432/postgres', state: 'running', role: 'replica' };
  const cases: Array<[string, string, string]> = [
    ['members/api', JSON.stringify({ ...base, api_url: 'http://10.0.0.1:8008/patroni\tx' }), 'api_url'],
    ['members/tab-host', JSON.stringify({ ...base, conn_url: 'postgres://10.0.\t0.1:5432/x' }), 'conn_url'],
    ['members/state', JSON.stringify({ ...base, state: 'running\nserver x' }), 'state'],
    ['members/version', JSON.stringify({ ...base, version: '4.0\r' }), 'version'],
    ['members/tag', JSON.stringify({ ...base, tags: { zone: 'a\nb' } }), 'tags'],
    ['members/tag-key', JSON.stringify({ ...base, tags: { 'z\u0085': 'a' } }), 'tags'],
  ];
  const state = buildClusterState('demo', [
    ...cases.map(([k, v]) => raw(k, v)),
    raw('failover', JSON.stringify({ leader: 'pg1', candidate: 'pg2\nx' })),
    raw('sync', JSON.stringify({ leader: 'pg1\n', sync_standby: 'pg2' })),
  ]);
  assert.equal(state.members.size, 0);
  for (const [key, , field] of cases) {
    const found = state.invalid.find((i) => i.key === key);
    assert.ok(found, `expected ${key} to be reported`);
    assert.ok(found.reason.startsWith(`${field}: `), found.reason);
    assert.match(found.reason, /control characters/);
  }
  assert.equal(state.failover, null);
  assert.equal(state.sync, null);
  assert.deepEqual(
    state.invalid.filter((i) => !i.key.startsWith('members/')).map((i) => i.key),
    ['failover', 'sync'],
  );
});

test('an unsafe scope name from etcd contributes no key and is reported', () => {
  const state = buildClusterState('app\n    server x 6.6.6.6:1', [
    raw('leader', 'pg1'),
    raw('members/pg1', member4x({ port: 5432, apiPort: 8008, role: 'primary' })),
  ]);
  assert.equal(state.leader, null);
  assert.equal(state.members.size, 0);
  assert.deepEqual(
    state.invalid.map((i) => [i.key, i.reason]),
    [
      [
        '(scope)',
        'scope name "app\\n    server x 6.6.6.6:1" has unsafe characters (expected [A-Za-z0-9_.-])',
      ],
    ],
  );
  assert.equal(isSafeScope('app-1.prod_eu'), true);
  assert.equal(isSafeScope('app/x'), false);
  assert.equal(isSafeScope(''), false);
});

test('a leader key naming an unsafe member is invalid, so the cluster has no leader', () => {
  const state = buildClusterState('demo', [raw('leader', 'pg1\n    server evil 6.6.6.6:5432')]);
  assert.equal(state.leader, null);
  assert.equal(state.invalid[0]?.key, 'leader');
});

test('an unparsable config falls back to Patroni defaults and is reported', () => {
  const state = buildClusterState('demo', [raw('config', 'ttl=5')]);
  assert.equal(state.config.ttl, 30);
  assert.equal(state.invalid[0]?.key, 'config');
});

test('splitKey keeps only Patroni layout keys', () => {
  assert.deepEqual(splitKey('/service', '/service/app/members/pg1'), { scope: 'app', key: 'members/pg1' });
  assert.deepEqual(splitKey('service', '/service/app/leader'), { scope: 'app', key: 'leader' });
  assert.equal(splitKey('/service', '/service/app/members/pg1/x'), null);
  assert.equal(splitKey('/service', '/service/app/unknown'), null);
  assert.equal(splitKey('/service', '/other/app/leader'), null);
});
