import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { run, startEtcd, waitFor, type EtcdCluster } from '../harness/index.js';
import { startAgentCluster, type AgentCluster } from './helpers.js';

// Operations through `switchyard ctl`: restart, reinit, edit-config (a new ttl means a new lease).
let etcd: EtcdCluster;
let cluster: AgentCluster;
let leader: string;
let replica: string;
const ROOT = new URL('../..', import.meta.url).pathname;
const ctl = (...args: string[]) =>
  run(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'agent/main.ts'), 'ctl', '-c', cluster.node('pg1').configPath, ...args],
    {
      cwd: ROOT,
      timeoutMs: 90_000,
      reject: false,
    },
  );

before(async () => {
  etcd = await startEtcd();
  cluster = await startAgentCluster({ scope: 'ops', nodes: 2, etcd });
  for (const n of cluster.nodes) cluster.start(n.name);
  leader = await cluster.waitForLeader({ timeoutMs: 90_000 });
  replica = leader === 'pg1' ? 'pg2' : 'pg1';
  await cluster.waitForReplicas(['pg1', 'pg2']);
});

after(async () => {
  await cluster?.stopAll();
  await etcd?.stop();
});

test('ctl restart restarts PostgreSQL on a replica and it streams again', async () => {
  const before = await cluster.sql<{ t: string }>(replica, 'SELECT pg_postmaster_start_time()::text AS t');
  const res = await ctl('restart', replica);
  assert.equal(res.exitCode, 0, res.stdout + res.stderr);
  assert.match(res.stdout, /restart pg\d: 200 restarted successfully/);
  const after = await cluster.sql<{ t: string }>(replica, 'SELECT pg_postmaster_start_time()::text AS t');
  assert.notEqual(after[0]?.t, before[0]?.t);
  await cluster.waitForReplicas(['pg1', 'pg2']);
});

test('ctl reinit re-clones a replica; on the leader it is refused', async () => {
  const refused = await ctl('reinit', leader);
  assert.match(refused.stdout, /503 I am the leader, can not reinitialize/);
  const res = await ctl('reinit', replica);
  assert.equal(res.exitCode, 0, res.stdout + res.stderr);
  assert.match(res.stdout, /200 reinitialize started/);
  await cluster.waitForReplicas(['pg1', 'pg2'], 120_000);
});

test('edit-config ttl: every agent moves to a lease with the new ttl, the leader keeps its key', async () => {
  const res = await ctl('edit-config', '-s', 'ttl=12', '-s', 'loop_wait=2');
  assert.equal(res.exitCode, 0, res.stdout + res.stderr);
  const leaseTtl = async (key: string) => {
    // Lease ids are 64-bit: keep the digits as text (JSON.parse would round them).
    const id = /"lease":(\d+)/.exec(await etcd.etcdctl(['get', key, '-w', 'json']))?.[1];
    if (!id) return null;
    const ttl = await etcd.etcdctl(['lease', 'timetolive', BigInt(id).toString(16)]);
    return Number(/granted with TTL\((\d+)s\)/.exec(ttl)?.[1] ?? 0);
  };
  await waitFor(async () => ((await leaseTtl('/service/ops/leader')) === 12 ? true : null), {
    what: 'the leader key on a 12 s lease',
    timeoutMs: 30_000,
    intervalMs: 500,
  });
  await waitFor(async () => ((await leaseTtl(`/service/ops/members/${replica}`)) === 12 ? true : null), {
    what: 'the replica member key on a 12 s lease',
    timeoutMs: 30_000,
    intervalMs: 500,
  });
  assert.equal(await cluster.leaderKey(), leader);
  assert.equal(await cluster.isInRecovery(leader), false);
});
