import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { postmasterPid, signalTree, startEtcd, type EtcdCluster } from '../harness/index.js';
import { PooledWriters } from '../../bench/lib/pooled-writers.js';
import { SUPERUSER, startAgentCluster, waitForSyncPair, type AgentCluster } from './helpers.js';
import { StopHandshake } from '../../src/dcs/drain.js';

// Planned switchover and PostgreSQL crash on the leader in synchronous mode, with loop_wait 10 so that a
// missed wake-up shows (it would cost ~10 s), and every agent dropping its leader-key watch events
// (SWITCHYARD_AGENT_FAULT_DROP_WATCH): the candidate must take over on its other signals.
const ROOT = new URL('../..', import.meta.url).pathname;
const SQL = 'INSERT INTO t DEFAULT VALUES RETURNING id, inet_server_port() AS port';
let etcd: EtcdCluster;
let cluster: AgentCluster;

function startDroppingWatch(name: string): void {
  cluster.group.spawn({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', join(ROOT, 'agent/main.ts'), 'agent', '-c', cluster.node(name).configPath],
    cwd: ROOT,
    env: { SWITCHYARD_LOG_LEVEL: 'info', SWITCHYARD_AGENT_FAULT_DROP_WATCH: 'leader' },
  });
}

before(async () => {
  etcd = await startEtcd();
  const dcs = { ttl: 30, loopWait: 10, retryTimeout: 10 };
  cluster = await startAgentCluster({ scope: 'handover', nodes: 3, etcd, ...dcs, synchronousMode: true });
  for (const n of cluster.nodes) startDroppingWatch(n.name);
  const leader = await cluster.waitForLeader({ timeoutMs: 120_000 });
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3'], 120_000);
  await cluster.sql(leader, 'CREATE TABLE t (id bigserial primary key)');
});

after(async () => {
  await cluster?.stopAll();
  await etcd?.stop();
});

/** The leader and the standby `/sync` names, once PostgreSQL reports that standby as sync. */
const syncPair = () => waitForSyncPair(etcd, cluster, 'handover', 90_000);

/** Direct writers to every node (every 10 ms, own connections), started now. */
function directWriters(): Map<string, PooledWriters> {
  return new Map(
    cluster.nodes.map((n) => [
      n.name,
      new PooledWriters(n.pgPort, 'postgres', 1, 10, 120_000, {
        password: SUPERUSER.password,
        sql: SQL,
        queryTimeoutMs: 5000,
      }).start(),
    ]),
  );
}

/**
 * Stops the writers and checks what a client saw: the new primary's first acknowledged write, no write
 * acknowledged by the old primary after it, and every acknowledged id present on the new primary.
 */
async function verdict(writers: Map<string, PooledWriters>, from: string, to: string) {
  for (const w of writers.values()) await w.stop();
  const acks = (n: string) => (writers.get(n)?.samples ?? []).filter((s) => s.port !== null);
  const firstNew = acks(to)[0]?.doneAt ?? Infinity;
  const lastOld =
    acks(from)
      .filter((s) => s.doneAt <= firstNew)
      .at(-1)?.doneAt ?? 0;
  const overlap = acks(from).filter((s) => s.doneAt > firstNew).length;
  const ids = [...writers.values()].flatMap((w) =>
    w.samples.flatMap((s) => (s.id !== undefined ? [s.id] : [])),
  );
  const have = new Set((await cluster.sql<{ id: string }>(to, 'SELECT id FROM t')).map((r) => Number(r.id)));
  return { noWritableMs: firstNew - lastOld, overlap, lost: ids.filter((id) => !have.has(id)).length };
}

test('a switchover hands the key to the sync standby within 2 s although every leader-key watch event is dropped, never with two writable nodes', async (t) => {
  for (let i = 0; i < 3; i++) {
    const { leader, standby } = await syncPair();
    await cluster.waitForReplicas(['pg1', 'pg2', 'pg3'], 120_000);
    const writers = directWriters();
    await new Promise((r) => setTimeout(r, 300));
    const res = await fetch(`${cluster.node(leader).apiUrl}/switchover`, {
      method: 'POST',
      body: JSON.stringify({ leader }),
      signal: AbortSignal.timeout(60_000),
    });
    assert.equal(res.status, 200, await res.text());
    const next = await cluster.waitForLeader({ not: leader, timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 300));
    const v = await verdict(writers, leader, next);
    t.diagnostic(`${leader}→${next}: no writable node for ${v.noWritableMs} ms`);
    assert.equal(next, standby);
    assert.equal(v.overlap, 0, 'the old primary acknowledged writes after the new one');
    assert.equal(v.lost, 0, 'acknowledged writes missing on the new primary');
    assert.ok(v.noWritableMs < 2000, `no writable node for ${v.noWritableMs} ms (loop_wait is 10 s)`);
  }
});

test('armed by switchyard switchover, the leader holds its stop until the command has paused, writable meanwhile', async () => {
  const { leader } = await syncPair();
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3'], 120_000);
  const member = JSON.parse((await etcd.get(`/service/handover/members/${leader}`)) ?? '{}');
  assert.equal(member.tags?.switchyard_before_stop, true, 'the agent says it takes part in the handshake');
  const cmd = await StopHandshake.open({ hosts: etcd.clientUrls }, '/service', 'handover');
  try {
    await cmd.arm(leader, Date.now() + 30_000);
    const stopping = cmd.stopping(30_000);
    const post = fetch(`${cluster.node(leader).apiUrl}/switchover`, {
      method: 'POST',
      body: JSON.stringify({ leader }),
      signal: AbortSignal.timeout(60_000),
    });
    const announced = await stopping;
    assert.ok(announced, 'the leader announced its stop');
    assert.ok(
      announced.candidate !== null && announced.candidate !== leader,
      `it named the member that takes over: ${announced.candidate}`,
    );
    await new Promise((r) => setTimeout(r, 400));
    const rows = await cluster.sql(leader, SQL);
    assert.equal(rows.length, 1, 'still primary and writable while the command pauses');
    assert.equal(await etcd.get('/service/handover/leader'), leader, 'and still holding the key');
    await cmd.paused();
    const res = await post;
    assert.equal(res.status, 200, await res.text());
    const next = await cluster.waitForLeader({ not: leader, timeoutMs: 30_000 });
    assert.equal(next, announced.candidate, 'the named candidate took over');
  } finally {
    await cmd.close();
  }
});

test('PostgreSQL killed on the leader: by default (sync standby in /sync) the standby leads within 5 s, no acknowledged write lost', async (t) => {
  const { leader, standby } = await syncPair();
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3'], 120_000);
  const writers = directWriters();
  await new Promise((r) => setTimeout(r, 300));
  const pid = postmasterPid(cluster.node(leader).dataDir);
  assert.ok(pid);
  signalTree(pid, 'SIGKILL');
  const killedAt = Date.now();
  const next = await cluster.waitForLeader({ timeoutMs: 60_000 });
  const tookMs = Date.now() - killedAt;
  await new Promise((r) => setTimeout(r, 300));
  const v = await verdict(writers, leader, next);
  t.diagnostic(`crash of ${leader}: ${next} writable after ${tookMs} ms`);
  assert.equal(next, standby, 'the crashed primary was restarted in place instead of failing over');
  assert.equal(v.lost, 0);
  assert.ok(tookMs < 5000, `new primary writable ${tookMs} ms after the crash`);
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3'], 120_000);
});

test('with primary_start_timeout 3600 a crashed leader restarts PostgreSQL in place and keeps the key', async () => {
  const { leader } = await syncPair();
  const patch = await fetch(`${cluster.node(leader).apiUrl}/config`, {
    method: 'PATCH',
    body: JSON.stringify({ primary_start_timeout: 3600 }),
  });
  assert.equal(patch.status, 200, await patch.text());
  await new Promise((r) => setTimeout(r, 500));
  const pid = postmasterPid(cluster.node(leader).dataDir);
  assert.ok(pid);
  signalTree(pid, 'SIGKILL');
  const next = await cluster.waitForLeader({ timeoutMs: 60_000 });
  assert.equal(next, leader);
  assert.notEqual(postmasterPid(cluster.node(leader).dataDir), pid);
});
