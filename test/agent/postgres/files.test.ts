import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLsn, parseControlData, parseLsn, parseTimelineHistory } from '../../../agent/postgres/lsn.js';
import { renderConf, slotName } from '../../../agent/postgres/files.js';
import { peerFromDocument } from '../../../agent/peers.js';
import { buildClusterState } from '../../../src/cluster/index.js';

test('LSNs convert between text and bytes', () => {
  assert.equal(parseLsn('0/3000060'), 0x3000060);
  assert.equal(parseLsn('1/0'), 0x1_0000_0000);
  assert.equal(formatLsn(0x1_0300_0060), '1/3000060');
  assert.equal(parseLsn('garbage'), null);
});

test('pg_controldata output gives state, system id, timeline and WAL position', () => {
  const text = [
    'pg_control version number:            1300',
    'Database system identifier:           7711014012193992191',
    'Database cluster state:               shut down',
    'Latest checkpoint location:           0/5000028',
    "Latest checkpoint's TimeLineID:       3",
    'Minimum recovery ending location:     0/0',
    "Min recovery ending loc's timeline:   0",
  ].join('\n');
  assert.deepEqual(parseControlData(text), {
    state: 'shut down',
    systemId: '7711014012193992191',
    timeline: 3,
    checkpointLsn: 0x5000028,
    walPosition: 0x5000028,
  });
});

test('a timeline history file becomes Patroni /history lines', () => {
  assert.deepEqual(
    parseTimelineHistory(
      '1\t0/3000060\tno recovery target specified\n\n2\t0/5000000\tno recovery target specified\n',
    ),
    [
      { timeline: 1, lsn: 0x3000060, reason: 'no recovery target specified' },
      { timeline: 2, lsn: 0x5000000, reason: 'no recovery target specified' },
    ],
  );
});

test("slot names follow Patroni's slot_name_from_member_name", () => {
  assert.equal(slotName('Node-1.a'), 'node_1_a');
  assert.equal(slotName('pg@x'), 'pgu0040x');
});

test('switchyard.conf quotes strings and leaves numbers bare', () => {
  assert.equal(
    renderConf({ port: 5432, listen_addresses: "a'b", hot_standby: true }).split('\n').slice(1).join('\n'),
    "port = 5432\nlisten_addresses = 'a''b'\nhot_standby = on\n",
  );
});

test("a peer's GET /patroni answer is read the way Patroni's leader race reads it", () => {
  const cluster = buildClusterState('lab', [
    {
      key: 'members/pg2',
      value: JSON.stringify({
        conn_url: 'postgres://127.0.0.1:5433/postgres',
        api_url: 'http://127.0.0.1:8009/patroni',
        state: 'running',
        role: 'replica',
        tags: { failover_priority: 3 },
      }),
      modRevision: 1,
      lease: '1',
    },
  ]);
  const m = cluster.members.get('pg2')!;
  const replica = peerFromDocument(m, {
    state: 'running',
    role: 'replica',
    xlog: { received_location: 100, replayed_location: 90 },
    timeline: 2,
  });
  assert.deepEqual(replica, {
    name: 'pg2',
    isReachable: true,
    isInRecovery: true,
    walPosition: 100,
    timeline: 2,
    isNoFailover: false,
    failoverPriority: 3,
    state: 'running',
  });
  assert.equal(peerFromDocument(m, { role: 'master', xlog: { location: 500 } }).isInRecovery, false);
});
