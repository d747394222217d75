import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcd, type EtcdCluster } from '../harness/index.js';
import { startAgentCluster, waitForSyncPair, type AgentCluster } from './helpers.js';

// synchronous_mode: the leader manages synchronous_standby_names and /sync; only the sync standby is promotable.
let etcd: EtcdCluster;
let cluster: AgentCluster;

before(async () => {
  etcd = await startEtcd();
  cluster = await startAgentCluster({ scope: 'sync', nodes: 3, etcd, synchronousMode: true });
  for (const n of cluster.nodes) cluster.start(n.name);
  const leader = await cluster.waitForLeader({ timeoutMs: 90_000 });
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3']);
  await cluster.sql(leader, 'CREATE TABLE t (id int primary key)');
});

after(async () => {
  await cluster?.stopAll();
  await etcd?.stop();
});

const syncStandby = () => waitForSyncPair(etcd, cluster, 'sync', 30_000);

test('the leader names one synchronous standby in synchronous_standby_names and then in /sync', async () => {
  const { leader, standby } = await syncStandby();
  const ssn = await cluster.sql<{ s: string }>(
    leader,
    "SELECT current_setting('synchronous_standby_names') AS s",
  );
  assert.equal(ssn[0]?.s, standby);
});

test('a switchover to an asynchronous replica is refused with 412', async () => {
  const { leader, standby } = await syncStandby();
  const other = ['pg1', 'pg2', 'pg3'].find((n) => n !== leader && n !== standby) as string;
  const res = await fetch(`${cluster.node(leader).apiUrl}/switchover`, {
    method: 'POST',
    body: JSON.stringify({ leader, candidate: other }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 412);
  assert.equal(await res.text(), 'candidate name does not match with sync_standby');
});

test('kill -9 of the leader promotes the synchronous standby and keeps every acknowledged write', async (t) => {
  const { leader, standby } = await syncStandby();
  const acked: number[] = [];
  for (let id = 1; id <= 50; id++) {
    await cluster.sql(leader, 'INSERT INTO t VALUES ($1)', [id]);
    acked.push(id);
  }
  await cluster.kill(leader);
  const killedAt = Date.now();
  const next = await cluster.waitForLeader({ not: leader, timeoutMs: 40_000 });
  t.diagnostic(
    `new leader ${next} writable ${Date.now() - killedAt} ms after kill -9 (sync standby was ${standby})`,
  );
  assert.equal(next, standby);
  const rows = await cluster.sql<{ id: number }>(next, 'SELECT id FROM t ORDER BY id');
  assert.deepEqual(
    rows.map((r) => r.id),
    acked,
  );
  cluster.start(leader);
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3'], 120_000);
});
