import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, chownSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  postgresUser,
  postmasterPid,
  run,
  sleep,
  startEtcd,
  waitFor,
  type EtcdCluster,
} from '../harness/index.js';
import { startAgentCluster, type AgentCluster } from './helpers.js';

// Faults from issue 6 on a 2-node agent cluster over a 3-member etcd.
let etcd: EtcdCluster;
let cluster: AgentCluster;
const ROOT = new URL('../..', import.meta.url).pathname;
const cli = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', join(ROOT, 'agent/main.ts'), ...args], {
    cwd: ROOT,
    timeoutMs: 60_000,
    reject: false,
  });

before(async () => {
  etcd = await startEtcd({ members: 3 });
  cluster = await startAgentCluster({ scope: 'faults', nodes: 2, etcd });
  for (const n of cluster.nodes) cluster.start(n.name);
  const leader = await cluster.waitForLeader({ timeoutMs: 90_000 });
  await cluster.waitForReplicas(['pg1', 'pg2']);
  await cluster.sql(leader, 'CREATE TABLE t (id serial primary key)');
});

after(async () => {
  await cluster?.stopAll();
  await etcd?.stop();
});

test('an invalid config is a clear error naming the key, and nothing is started', async () => {
  const bad = cluster.group.writeFile(
    'bad.yml',
    'scope: faults\nname: bad\nrestapi: {listen: 127.0.0.1:1, connect_address: 127.0.0.1:1}\netcd3: {hosts: 127.0.0.1:1}\npostgresql: {listen: nope, connect_address: 127.0.0.1:5, data_dir: /nonexistent/x, authentication: {superuser: {username: a}, replication: {username: b}}}\nbootstrap: {dcs: {ttl: ten}}\n',
  );
  const res = await cli(['agent', '-c', bad]);
  assert.equal(res.exitCode, 2);
  assert.match(res.stderr, /bad\.yml: postgresql\.listen: expected "address\[,address\.\.\.\]:port"/);
  assert.match(res.stderr, /bad\.yml: bootstrap\.dcs\.ttl: Expected number, received string/);
  assert.equal(existsSync('/nonexistent/x'), false);
});

test('loss of one etcd member of three changes nothing', async (t) => {
  const leader = (await cluster.leaderKey()) as string;
  await etcd.stopMember(0);
  try {
    for (let i = 0; i < 30; i++) {
      await cluster.sql(leader, 'INSERT INTO t DEFAULT VALUES');
      await sleep(200);
    }
    assert.equal(await cluster.leaderKey(), leader);
  } finally {
    await etcd.startMember(0);
  }
  t.diagnostic('30 writes over 6 s with one etcd member down, leader unchanged');
});

test('a PostgreSQL crash on the primary is restarted in place, the leader key kept', async (t) => {
  const leader = (await cluster.leaderKey()) as string;
  const pm = postmasterPid(cluster.node(leader).dataDir) as number;
  process.kill(pm, 'SIGKILL');
  const crashedAt = Date.now();
  await waitFor(async () => ((await cluster.isInRecovery(leader)) === false ? true : null), {
    what: `${leader} writable again`,
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  t.diagnostic(`primary writable again ${Date.now() - crashedAt} ms after its postmaster was killed`);
  assert.equal(await cluster.leaderKey(), leader);
  await cluster.sql(leader, 'INSERT INTO t DEFAULT VALUES');
});

test('pause: a stopped PostgreSQL is left alone; resume brings it back', async () => {
  const leader = (await cluster.leaderKey()) as string;
  const config = cluster.node('pg1').configPath;
  const paused = await cli(['ctl', '-c', config, 'pause']);
  assert.equal(paused.exitCode, 0, paused.stderr + paused.stdout);
  await waitFor(
    async () => ((await etcd.get('/service/faults/members/pg1'))?.includes('"pause":true') ? true : null),
    {
      what: 'member keys carrying pause',
      timeoutMs: 15_000,
    },
  );
  const replica = leader === 'pg1' ? 'pg2' : 'pg1';
  await run(
    '/usr/lib/postgresql/15/bin/pg_ctl',
    ['stop', '-D', cluster.node(replica).dataDir, '-m', 'fast', '-w'],
    postgresUser(),
  );
  await sleep(6000);
  assert.equal(
    postmasterPid(cluster.node(replica).dataDir),
    undefined,
    'PostgreSQL was started while paused',
  );
  assert.equal(await cluster.leaderKey(), leader);
  const resumed = await cli(['ctl', '-c', config, 'resume']);
  assert.equal(resumed.exitCode, 0, resumed.stderr + resumed.stdout);
  await cluster.waitForReplicas(['pg1', 'pg2'], 60_000);
});

test('a data directory from another cluster is refused and nothing joins', async () => {
  const victim = (await cluster.leaderKey()) === 'pg2' ? 'pg1' : 'pg2';
  const n = cluster.node(victim);
  await cluster.stop(victim);
  await run('rm', ['-rf', n.dataDir]);
  mkdirSync(n.dataDir, { recursive: true, mode: 0o700 });
  const { uid, gid } = postgresUser();
  chownSync(n.dataDir, uid, gid);
  await run('/usr/lib/postgresql/15/bin/initdb', ['-D', n.dataDir, '-U', 'postgres'], {
    uid,
    gid,
    timeoutMs: 120_000,
  });
  cluster.start(victim);
  await waitFor(() => !cluster.group.isRunning(victim) || null, {
    what: `${victim} agent to exit`,
    timeoutMs: 60_000,
    intervalMs: 200,
  });
  // The sleep keeps the event loop alive until the (unref'd) child's exit event is delivered.
  const exited = await Promise.race([cluster.group.get(victim)?.exited, sleep(5000).then(() => undefined)]);
  assert.equal(exited?.code, 3);
  assert.match(cluster.logTail(victim, 10), /data directory belongs to another cluster/);
  assert.equal(postmasterPid(n.dataDir), undefined);
});
