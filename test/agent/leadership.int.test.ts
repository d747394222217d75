import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { postmasterPid, sleep, sqlQuery, startEtcd, type EtcdCluster } from '../harness/index.js';
import { refusedAfterEtcdStall, startAgentCluster, type AgentCluster } from './helpers.js';

// One agent leading alone (ttl 10, loop_wait 2, retry_timeout 4). The fence must not depend on the status
// query, and SIGTERM must not wait on an unreachable etcd.
let etcd: EtcdCluster;
let cluster: AgentCluster;
const TTL_MS = 10_000;
const RETRY_TIMEOUT_MS = 4_000;
const WRITER = { user: 'writer', password: 'writer-pw' };

before(async () => {
  etcd = await startEtcd();
  cluster = await startAgentCluster({ scope: 'leadership', nodes: 1, etcd });
  cluster.start('pg1');
  await cluster.waitForLeader({ timeoutMs: 90_000 });
  await cluster.sql('pg1', `CREATE ROLE writer LOGIN SUPERUSER PASSWORD '${WRITER.password}'`);
  await cluster.sql('pg1', 'CREATE TABLE t (id serial primary key)');
});

after(async () => {
  etcd?.resume();
  await cluster?.stopAll();
  await etcd?.stop();
});

const asWriter = (q: string) => sqlQuery({ port: cluster.node('pg1').pgPort, ...WRITER }, q, undefined, 2000);

async function canWrite(): Promise<boolean> {
  try {
    await asWriter('INSERT INTO t DEFAULT VALUES');
    return true;
  } catch {
    return false;
  }
}

test('etcd lost while the status query fails: the primary still stops accepting writes before its lease can expire', async (t) => {
  assert.equal(await canWrite(), true);
  // The agent's own connections now fail: its superuser may not log in and its sessions are gone.
  await asWriter(`ALTER ROLE postgres NOLOGIN`);
  await asWriter(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'switchyard-agent%'",
  );
  const refused = await refusedAfterEtcdStall(etcd, canWrite, TTL_MS + 5000);
  t.diagnostic(`primary refused writes ${refused} ms after etcd stalled (ttl ${TTL_MS} ms)`);
  assert.ok(refused !== null, `the primary kept accepting writes ${TTL_MS + 5000} ms after etcd stalled`);
  assert.ok(refused < TTL_MS, `refused only after ${refused} ms`);
  // Recovery: the agent starts its PostgreSQL again once etcd answers; let its superuser back in.
  for (let i = 0; i < 200; i++) {
    try {
      await asWriter('ALTER ROLE postgres LOGIN');
      break;
    } catch {
      await sleep(250);
    }
  }
  await cluster.waitForLeader({ timeoutMs: 60_000 });
});

test('SIGTERM to a leader agent with etcd killed: PostgreSQL is stopped first and the agent process exits within retry_timeout + a few seconds', async (t) => {
  const dataDir = cluster.node('pg1').dataDir;
  const pm = postmasterPid(dataDir);
  assert.ok(pm !== undefined, 'PostgreSQL runs before the test');
  await etcd.kill();
  try {
    // Long enough that cycles, the key watch and a lease renewal have all failed on etcd; short of the fence.
    await sleep(4000);
    const sentAt = Date.now();
    cluster.group.signal('pg1', 'SIGTERM');
    let pgStoppedAt = 0;
    while (cluster.group.isRunning('pg1') && Date.now() - sentAt < 45_000) {
      if (!pgStoppedAt && postmasterPid(dataDir) === undefined) pgStoppedAt = Date.now();
      await sleep(20);
    }
    const exitedAt = Date.now();
    if (!pgStoppedAt && postmasterPid(dataDir) === undefined) pgStoppedAt = exitedAt;
    const stopped = cluster
      .logTail('pg1', 200)
      .split('\n')
      .filter((l) => l.includes('"agent stopped"'))
      .map((l) => JSON.parse(l) as { time: number; active: string[] })
      .pop();
    t.diagnostic(
      `agent.stop() done after ${stopped ? stopped.time - sentAt : '?'} ms; then active: ${stopped?.active}`,
    );
    t.diagnostic(
      `PostgreSQL stopped after ${pgStoppedAt - sentAt} ms, agent exited after ${exitedAt - sentAt} ms`,
    );
    assert.equal(cluster.group.isRunning('pg1'), false, 'the agent did not exit within 45 s');
    assert.ok(
      pgStoppedAt > 0 && pgStoppedAt <= exitedAt,
      'PostgreSQL was still running when the agent exited',
    );
    assert.ok(stopped, 'no "agent stopped" line in the agent log');
    assert.ok(
      stopped.time - sentAt < RETRY_TIMEOUT_MS + 5000,
      `stop() took ${stopped.time - sentAt} ms (retry_timeout ${RETRY_TIMEOUT_MS} ms)`,
    );
    // The process exits right after stop(): the etcd client's retries must not keep it alive.
    assert.ok(
      exitedAt - sentAt < RETRY_TIMEOUT_MS + 5000,
      `the agent process exited ${exitedAt - sentAt} ms after SIGTERM (retry_timeout ${RETRY_TIMEOUT_MS} ms)`,
    );
  } finally {
    await etcd.restart();
  }
});
