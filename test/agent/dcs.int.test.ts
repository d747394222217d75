import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdForFile } from '../harness/index.js';
import { connectEtcd } from '../../src/dcs/connect.js';
import { AgentLease } from '../../src/dcs/lease.js';
import { ClusterWriter } from '../../src/dcs/cluster-writer.js';

const lab = etcdForFile((hosts) => connectEtcd({ hosts }));

/** A member value of a running Patroni 3.0.2 primary, keys in Patroni's order. */
const runningPrimary = (pgPort: number, apiPort: number, extra: Record<string, unknown> = {}) => ({
  conn_url: `postgres://127.0.0.1:${pgPort}/postgres`,
  api_url: `http://127.0.0.1:${apiPort}/patroni`,
  state: 'running',
  role: 'master',
  version: '3.0.2',
  ...extra,
});

test('the leader key is taken by one create-only txn, carried by the lease and deleted only by its owner', async () => {
  const w = new ClusterWriter(lab.client, '/service', 'lab');
  const a = new AgentLease(lab.client, { ttlSeconds: 5, requestTimeoutMs: 2000 });
  const b = new AgentLease(lab.client, { ttlSeconds: 5, requestTimeoutMs: 2000 });
  const la = await a.grant();
  const lb = await b.grant();
  assert.equal(await w.acquireLeader('pg1', la), true);
  assert.equal(await w.acquireLeader('pg2', lb), false);
  assert.equal(await w.releaseLeader('pg2'), false);
  assert.equal(await w.moveLeaderToLease('pg2', lb), false);
  const read = await w.read();
  assert.equal(read.state.leader?.name, 'pg1');
  assert.equal(read.state.leader?.lease, la);
  assert.equal(await a.keepalive(), true);
  assert.equal(await w.releaseLeader('pg1'), true);
  assert.equal((await w.read()).state.leader, null);
  await a.revoke();
  assert.equal(await a.keepalive(), false);
  await b.revoke();
});

test('an expired lease takes the member and leader keys with it and keepalive reports it gone', async () => {
  const w = new ClusterWriter(lab.client, '/service', 'exp');
  const lease = new AgentLease(lab.client, { ttlSeconds: 2, requestTimeoutMs: 2000 });
  const id = await lease.grant();
  await w.touchMember('pg1', runningPrimary(5432, 8008), id);
  assert.equal(await w.acquireLeader('pg1', id), true);
  await new Promise((r) => setTimeout(r, 3500));
  const read = await w.read();
  assert.equal(read.state.leader, null);
  assert.equal(read.state.members.size, 0);
  assert.equal(await lease.keepalive(), false);
  assert.equal(lease.id, null);
});

test('values are written byte-compatible with Patroni 3.0.2', async () => {
  const w = new ClusterWriter(lab.client, '/service', 'bytes');
  const lease = new AgentLease(lab.client, { ttlSeconds: 10, requestTimeoutMs: 2000 });
  const id = await lease.grant();
  await w.touchMember('node3', runningPrimary(24013, 24023, { xlog_location: 84068584, timeline: 11 }), id);
  assert.equal(await w.raceInitialize(), true);
  assert.equal(await w.raceInitialize(), false);
  await w.writeInitialize('7711014012193992191');
  assert.equal(await w.writeConfig({ ttl: 10, loop_wait: 2, postgresql: { use_pg_rewind: true } }, 0), true);
  assert.equal(await w.writeConfig({ ttl: 11 }, 0), false);
  await w.writeStatus(84068584);
  await w.writeHistory([
    [1, 70664984, 'no recovery target specified', '2026-11-22T15:18:21.698774+00:00', 'node2'],
  ]);
  assert.equal(await w.writeSync('node3', ['node1'], null), true);
  await w.clearFailover(null);
  const get = (k: string) => lab.etcd.get(`/service/bytes/${k}`);
  assert.equal(
    await get('members/node3'),
    '{"conn_url":"postgres://127.0.0.1:24013/postgres","api_url":"http://127.0.0.1:24023/patroni","state":"running","role":"master","version":"3.0.2","xlog_location":84068584,"timeline":11}',
  );
  assert.equal(await get('config'), '{"ttl": 10, "loop_wait": 2, "postgresql": {"use_pg_rewind": true}}');
  assert.equal(await get('status'), '{"optime":84068584}');
  assert.equal(await get('sync'), '{"leader":"node3","sync_standby":"node1"}');
  assert.equal(await get('failover'), '{}');
  assert.equal(await get('initialize'), '7711014012193992191');
  const state = (await w.read()).state;
  assert.equal(state.sync?.standbys[0], 'node1');
  assert.equal(await w.writeSync('node3', ['node2'], state.sync!.modRevision), true);
  assert.equal(await w.writeSync('node3', ['node1'], state.sync!.modRevision), false);
  await lease.revoke();
});
