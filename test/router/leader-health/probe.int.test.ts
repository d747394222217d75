import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { RouteLeader } from '../../../src/route/view.js';
import { probeOnce, type ProbeSettings } from '../../../src/router/leader-health/probe.js';
import {
  PATRONI_SUPERUSER,
  startEtcd,
  startPatroniCluster,
  type EtcdCluster,
  type PatroniCluster,
  type PatroniNode,
} from '../../harness/index.js';

// The default writable probe (no login: GET /patroni) against a real Patroni 3.0.2 cluster.
let etcd: EtcdCluster;
let cluster: PatroniCluster;

const rest: ProbeSettings = {
  method: 'rest',
  intervalMs: 5,
  timeoutMs: 60_000,
  user: 'postgres',
  dbname: 'postgres',
  password: undefined,
};

function leaderOf(node: PatroniNode): RouteLeader {
  return {
    name: node.name,
    host: '127.0.0.1',
    port: node.pgPort,
    api: { host: '127.0.0.1', port: node.apiPort },
    isWritable: false,
    reason: 'new leader',
    leaderRevision: 1,
    isLost: false,
    lostReason: null,
  };
}

/** One INSERT on its own connection; resolves to the error message, or null when it committed. */
async function insert(node: PatroniNode): Promise<string | null> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: node.pgPort,
    user: 'postgres',
    password: PATRONI_SUPERUSER.password,
    database: 'postgres',
    connectionTimeoutMillis: 2000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('INSERT INTO probe_writes DEFAULT VALUES');
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

before(async () => {
  etcd = await startEtcd();
  cluster = await startPatroniCluster({
    scope: 'probe',
    nodes: 2,
    etcd,
    ttl: 10,
    loopWait: 2,
    retryTimeout: 4,
  });
  const leader = await cluster.waitForHealthy();
  await cluster.sql(leader, 'CREATE TABLE IF NOT EXISTS probe_writes (id bigserial primary key)');
});

after(async () => {
  await cluster?.stop();
  await etcd?.stop();
});

test('the default probe says writable for the Patroni leader and not for its replica, without a login', async () => {
  const leader = await cluster.waitForHealthy();
  const replica = cluster.nodes.find((n) => n.name !== leader) as PatroniNode;
  assert.deepEqual(await probeOnce(leaderOf(cluster.node(leader)), rest, 1000), { isWritable: true });
  const other = await probeOnce(leaderOf(replica), rest, 1000);
  assert.equal(other.isWritable, false);
  assert.match(other.isWritable ? '' : other.reason, /role "replica"/);
});

test('during a switchover the probe never says writable before the new leader accepts an INSERT', async () => {
  const from = await cluster.waitForHealthy();
  const to = cluster.nodes.find((n) => n.name !== from) as PatroniNode;
  let stop = false;
  const early: string[] = [];
  let writableAt: number | null = null;
  let answers = 0;
  const watcher = (async () => {
    const deadline = Date.now() + 90_000;
    while (!stop && Date.now() < deadline) {
      const outcome = await probeOnce(leaderOf(to), rest, 1000);
      answers++;
      if (outcome.isWritable) {
        // checked at once: the node must take a write the moment the probe says it does
        const error = await insert(to);
        if (error !== null) early.push(error);
        else writableAt ??= Date.now();
        if (writableAt !== null) return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const started = Date.now();
  const newLeader = await cluster.switchover({ candidate: to.name, timeoutMs: 90_000 });
  stop = writableAt !== null;
  await Promise.race([watcher, new Promise((r) => setTimeout(r, 10_000))]);
  stop = true;
  await watcher;
  assert.equal(newLeader, to.name);
  assert.deepEqual(early, [], 'no INSERT refused after the probe said writable');
  assert.ok(writableAt !== null, `the probe saw ${to.name} writable (${answers} answers)`);
  assert.ok((writableAt as number) - started < 60_000);
});
