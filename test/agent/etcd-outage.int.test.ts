import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, startEtcd, waitFor, type EtcdCluster } from '../harness/index.js';
import { refusedAfterEtcdStall, startAgentCluster, type AgentCluster } from './helpers.js';

// etcd stalls (all members SIGSTOPped): without failsafe the primary stops taking writes before its lease
// can expire; with failsafe_mode and every member answering it keeps taking them.
let etcd: EtcdCluster;
let cluster: AgentCluster;
const TTL_MS = 10_000;

before(async () => {
  etcd = await startEtcd();
  cluster = await startAgentCluster({ scope: 'outage', nodes: 3, etcd });
  for (const n of cluster.nodes) cluster.start(n.name);
  const leader = await cluster.waitForLeader({ timeoutMs: 90_000 });
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3']);
  await cluster.sql(leader, 'CREATE TABLE t (id serial primary key, at timestamptz default now())');
});

after(async () => {
  etcd?.resume();
  await cluster?.stopAll();
  await etcd?.stop();
});

async function canWrite(name: string): Promise<boolean> {
  try {
    await cluster.sql(name, 'INSERT INTO t DEFAULT VALUES');
    return true;
  } catch {
    return false;
  }
}

test('etcd outage without failsafe: the primary stops accepting writes before the ttl runs out, and the cluster recovers', async (t) => {
  const leader = (await cluster.leaderKey()) as string;
  assert.equal(await canWrite(leader), true);
  const refused = await refusedAfterEtcdStall(etcd, () => canWrite(leader), TTL_MS + 3000);
  t.diagnostic(`primary refused writes ${refused} ms after etcd stalled (ttl ${TTL_MS} ms)`);
  assert.ok(refused !== null, 'the primary kept accepting writes past the ttl');
  assert.ok(refused < TTL_MS, `refused only after ${refused} ms`);
  const next = await cluster.waitForLeader({ timeoutMs: 60_000 });
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3'], 120_000);
  t.diagnostic(`leader after the outage: ${next} (before: ${leader})`);
});

test('etcd outage with failsafe_mode and every member answering: the primary keeps accepting writes', async (t) => {
  const leader = (await cluster.leaderKey()) as string;
  const res = await fetch(`${cluster.node(leader).apiUrl}/config`, {
    method: 'PATCH',
    body: JSON.stringify({ failsafe_mode: true }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200, await res.text());
  await waitFor(
    async () => {
      const v = await etcd.get('/service/outage/failsafe');
      return v && Object.keys(JSON.parse(v) as object).length === 3 ? true : null;
    },
    { what: '/failsafe listing 3 members', timeoutMs: 20_000 },
  );
  etcd.pause();
  const pausedAt = Date.now();
  let failures = 0;
  let writes = 0;
  try {
    while (Date.now() - pausedAt < TTL_MS + 5000) {
      if (await canWrite(leader)) writes++;
      else failures++;
      await sleep(100);
    }
  } finally {
    etcd.resume();
  }
  t.diagnostic(`${writes} writes accepted, ${failures} refused during a ${TTL_MS + 5000} ms etcd stall`);
  assert.equal(failures, 0);
  await sleep(3000);
  assert.equal(await cluster.leaderKey(), leader);
  assert.equal(await canWrite(leader), true);
});
