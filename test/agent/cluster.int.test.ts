import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, sleep, startEtcd, waitFor, type EtcdCluster } from '../harness/index.js';
import { startAgentCluster, type AgentCluster } from './helpers.js';

// One 3-node agent cluster, exercised in order: bootstrap, interop, switchover, kill -9, SIGSTOP.
let etcd: EtcdCluster;
let cluster: AgentCluster;
let ctlConfig: string;
const ROOT = new URL('../..', import.meta.url).pathname;

before(async () => {
  etcd = await startEtcd();
  cluster = await startAgentCluster({ scope: 'agentint', nodes: 3, etcd });
  ctlConfig = cluster.group.writeFile('patronictl.yml', `etcd3:\n  hosts: ${etcd.endpoints.join(',')}\n`);
  for (const n of cluster.nodes) cluster.start(n.name);
});

after(async () => {
  await cluster?.stopAll();
  await etcd?.stop();
});

async function writeRow(name: string, id: number): Promise<boolean> {
  try {
    await cluster.sql(name, 'INSERT INTO t (id) VALUES ($1)', [id]);
    return true;
  } catch {
    return false;
  }
}

async function patronictlList(): Promise<{ Member: string; Role: string; State: string; TL?: number }[]> {
  const res = await run('patronictl', ['-c', ctlConfig, 'list', 'agentint', '--format', 'json'], {
    timeoutMs: 20_000,
  });
  return JSON.parse(res.stdout) as { Member: string; Role: string; State: string; TL?: number }[];
}

test('three agents bootstrap one cluster and the others clone from the leader, streaming through a slot each', async () => {
  const leader = await cluster.waitForLeader({ timeoutMs: 90_000 });
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3']);
  await cluster.sql(leader, 'CREATE TABLE t (id int primary key)');
  const slots = await cluster.sql<{ slot_name: string; active: boolean }>(
    leader,
    'SELECT slot_name, active FROM pg_replication_slots ORDER BY 1',
  );
  assert.deepEqual(
    slots.map((s) => s.slot_name),
    ['pg1', 'pg2', 'pg3'].filter((n) => n !== leader),
  );
  await waitFor(
    async () =>
      (
        await cluster.sql<{ n: number }>(
          leader,
          'SELECT count(*)::int AS n FROM pg_replication_slots WHERE active',
        )
      ).at(0)?.n === 2 || null,
    {
      what: 'both slots active',
      timeoutMs: 20_000,
    },
  );
});

test("Debian's patronictl 3.0.2 lists the agent cluster with the right roles, states and timelines", async () => {
  const leader = (await cluster.leaderKey()) as string;
  const rows = await waitFor(
    async () => {
      const r = await patronictlList();
      return r.length === 3 && r.every((x) => x.State === 'running' && x.TL === 1) ? r : null;
    },
    { what: 'patronictl list: 3 running members on TL 1', timeoutMs: 20_000 },
  );
  assert.deepEqual(
    rows.map((r) => [r.Member, r.Role]),
    ['pg1', 'pg2', 'pg3'].map((n) => [n, n === leader ? 'Leader' : 'Replica']),
  );
  const ours = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'agent/main.ts'),
      'ctl',
      '-c',
      cluster.node('pg1').configPath,
      '-f',
      'json',
      'list',
    ],
    {
      timeoutMs: 30_000,
      cwd: ROOT,
    },
  );
  const mine = JSON.parse(ours.stdout) as { Member: string; Role: string; TL?: number }[];
  assert.deepEqual(
    mine.map((r) => [r.Member, r.Role, r.TL]),
    rows.map((r) => [r.Member, r.Role, r.TL]),
  );
});

test('planned switchover through the REST API moves the leader without losing acknowledged writes', async () => {
  const old = (await cluster.leaderKey()) as string;
  let id = 0;
  const acked: number[] = [];
  for (let i = 0; i < 20; i++) if (await writeRow(old, ++id)) acked.push(id);
  const started = Date.now();
  const res = await fetch(`${cluster.node(old).apiUrl}/switchover`, {
    method: 'POST',
    body: JSON.stringify({ leader: old }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(text, /^Successfully switched over to "pg\d"$/);
  const next = await cluster.waitForLeader({ not: old, timeoutMs: 20_000 });
  const elapsed = Date.now() - started;
  for (let i = 0; i < 20; i++) if (await writeRow(next, ++id)) acked.push(id);
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3']);
  const rows = await cluster.sql<{ id: number }>(next, 'SELECT id FROM t ORDER BY id');
  const have = new Set(rows.map((r) => r.id));
  assert.deepEqual(
    acked.filter((a) => !have.has(a)),
    [],
    'acknowledged writes lost',
  );
  assert.ok(elapsed < 10_000, `switchover took ${elapsed} ms`);
  const history = JSON.parse((await etcd.get('/service/agentint/history')) ?? '[]') as unknown[][];
  assert.equal(history.at(-1)?.[4], next);
});

test('kill -9 of a leader with unreplicated writes: another node takes over within ttl + a few seconds, and the old one rejoins by pg_rewind with its data directory kept (default config)', async (t) => {
  const old = (await cluster.leaderKey()) as string;
  const dataDir = cluster.node(old).dataDir;
  const base = statSync(join(dataDir, 'base'));
  // Rows the replicas never receive: the walsenders are frozen, the leader (asynchronous) acknowledges
  // them anyway, then it is killed. Its WAL has diverged from the next leader's: only pg_rewind (or a
  // re-clone) brings it back.
  const walsenders = (await cluster.sql<{ pid: number }>(old, 'SELECT pid FROM pg_stat_replication')).map(
    (r) => r.pid,
  );
  assert.ok(walsenders.length > 0, 'no walsender on the leader');
  for (const pid of walsenders) process.kill(pid, 'SIGSTOP');
  const diverged: number[] = [];
  for (let id = 200_001; id <= 200_050; id++) if (await writeRow(old, id)) diverged.push(id);
  assert.equal(
    diverged.length,
    50,
    'the leader did not acknowledge the rows written while walsenders were frozen',
  );
  await cluster.kill(old);
  for (const pid of walsenders) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone with its postmaster
    }
  }
  const killedAt = Date.now();
  const next = await cluster.waitForLeader({ not: old, timeoutMs: 30_000 });
  const took = Date.now() - killedAt;
  assert.ok(took < 10_000 + 5_000, `failover took ${took} ms`);
  await waitFor(
    async () => ((await etcd.get('/service/agentint/history')) ?? '').includes(`"${next}"`) || null,
    {
      what: `/history naming ${next}`,
      timeoutMs: 20_000,
    },
  );
  // The state the agent leaves when it first starts a crashed ex-primary as a standby (the start fails:
  // its timeline is not a child of the new leader's): crashed control file, standby.signal present. With
  // it, pg_rewind's single-user crash recovery refused to run ("standby mode is not supported by
  // single-user servers") and, with destructive recovery off by default, the node stayed stopped.
  writeFileSync(join(dataDir, 'standby.signal'), '');
  chownSync(join(dataDir, 'standby.signal'), base.uid, base.gid);
  cluster.start(old);
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3'], 120_000);
  assert.equal(await cluster.isInRecovery(old), true);
  assert.equal(await cluster.leaderKey(), next);
  const after = statSync(join(dataDir, 'base'));
  assert.deepEqual(
    [after.ino, after.birthtimeMs],
    [base.ino, base.birthtimeMs],
    'the data directory was re-created instead of rewound',
  );
  const log = cluster.logTail(old, 400);
  // How it rejoined (first start as a standby, stall or failed start, rewind), for the reader of the run.
  for (const m of log.matchAll(/"msg":"((?:starting as|pg_rewind|crash recovery)[^"]{0,200})/g))
    t.diagnostic(m[1] ?? '');
  assert.doesNotMatch(log, /removing the data directory/);
  const rows = await cluster.sql<{ n: number }>(old, 'SELECT count(*)::int AS n FROM t WHERE id > 200000');
  assert.equal(rows[0]?.n, 0, 'the ex-primary still has the rows the cluster never saw: it was not rewound');
});

test('SIGSTOP of the leader agent: its PostgreSQL stops taking writes before another node is promoted, and it never takes the key back', async () => {
  const old = (await cluster.leaderKey()) as string;
  const others = ['pg1', 'pg2', 'pg3'].filter((n) => n !== old);
  const pid = cluster.pid(old) as number;
  let lastOldWrite = 0;
  let firstNewWrite = 0;
  let id = 100_000;
  process.kill(pid, 'SIGSTOP');
  const stoppedAt = Date.now();
  try {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && firstNewWrite === 0) {
      if (await writeRow(old, ++id)) lastOldWrite = Date.now();
      for (const o of others)
        if ((await cluster.isInRecovery(o)) === false && (await writeRow(o, ++id)))
          firstNewWrite ||= Date.now();
      await sleep(20);
    }
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  assert.ok(firstNewWrite > 0, 'no other node became writable within 30 s');
  assert.ok(
    lastOldWrite < firstNewWrite,
    `old primary took a write at +${lastOldWrite - stoppedAt} ms, new one at +${firstNewWrite - stoppedAt} ms`,
  );
  const newLeader = (await cluster.leaderKey()) as string;
  assert.notEqual(newLeader, old);
  // The resumed agent must never take the key back; watch it for a while.
  const until = Date.now() + 12_000;
  while (Date.now() < until) {
    assert.notEqual(await cluster.leaderKey(), old, 'the resumed old leader took the key back');
    await sleep(200);
  }
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3'], 120_000);
  assert.equal(await cluster.isInRecovery(old), true);
});
