// Records what a real Patroni writes and answers, into test/fixtures/patroni-<version>-*.json, so unit
// tests check the router's parsing against real values (not values typed from documentation).
//
//   SWITCHYARD_STACK=trixie node --import tsx scripts/record-patroni-fixtures.ts
//
// Starts etcd and a 3-node Patroni cluster (synchronous_mode: quorum, failsafe_mode on) on the selected
// stack, makes one switchover (so /history has a line), then a 1-node standby cluster that replicates
// from it (its leader is a `standby_leader`). Writes every key of both scopes and the REST bodies of
// the primary, a replica and the standby leader. Everything runs on loopback and is removed afterwards.
import { writeFileSync } from 'node:fs';
import {
  httpRequest,
  startEtcd,
  startPatroniCluster,
  waitFor,
  type EtcdCluster,
  type PatroniCluster,
} from '../test/harness/index.js';
import { STACK, STACK_VERSIONS } from '../test/harness/stack.js';

const out = new URL('../test/fixtures/', import.meta.url);

interface RecordedKey {
  value: string;
  lease: boolean;
  create_revision: number;
  mod_revision: number;
}

async function readKeys(etcd: EtcdCluster, prefix: string): Promise<Record<string, RecordedKey>> {
  const reply = JSON.parse(await etcd.etcdctl(['get', '--prefix', prefix, '-w', 'json'])) as {
    kvs?: { key: string; value: string; lease?: number; create_revision: number; mod_revision: number }[];
  };
  const keys: Record<string, RecordedKey> = {};
  for (const kv of reply.kvs ?? []) {
    keys[Buffer.from(kv.key, 'base64').toString('utf8')] = {
      value: Buffer.from(kv.value, 'base64').toString('utf8'),
      lease: (kv.lease ?? 0) !== 0,
      create_revision: kv.create_revision,
      mod_revision: kv.mod_revision,
    };
  }
  return keys;
}

/** GET every path on one node: status code and body (parsed JSON when it is JSON). */
async function restBodies(apiUrl: string, paths: string[]): Promise<Record<string, unknown>> {
  const bodies: Record<string, unknown> = {};
  for (const path of paths) {
    const res = await httpRequest(`${apiUrl}${path}`, { timeoutMs: 5_000 });
    let body: unknown = res.body;
    try {
      body = JSON.parse(res.body);
    } catch {
      // not JSON: keep the text
    }
    bodies[`GET ${path}`] = { status: res.status, body };
  }
  return bodies;
}

async function main(): Promise<void> {
  const version = STACK_VERSIONS.patroni;
  const etcd = await startEtcd();
  let cluster: PatroniCluster | undefined;
  let standby: PatroniCluster | undefined;
  try {
    cluster = await startPatroniCluster({
      scope: 'lab4',
      nodes: 3,
      etcd,
      failsafeMode: true,
      extraDcs: { synchronous_mode: 'quorum', synchronous_node_count: 1 },
    });
    await cluster.switchover();
    const leader = await cluster.waitForHealthy();
    const primary = cluster;
    // quorum mode: /sync names the leader, the quorum and the voters once replicas have caught up
    await waitFor(
      async () => {
        const sync = await etcd.get(`${primary.prefix}sync`);
        const parsed = sync ? (JSON.parse(sync) as { sync_standby?: string | null }) : undefined;
        return parsed?.sync_standby ? sync : undefined;
      },
      { what: 'a /sync key with standbys', timeoutMs: 60_000, intervalMs: 500 },
    );
    const replica = cluster.nodes.find((n) => n.name !== leader);
    if (!replica) throw new Error('no replica');
    const leaderNode = cluster.node(leader);
    standby = await startPatroniCluster({
      scope: 'standby4',
      nodes: 1,
      etcd,
      extraDcs: { standby_cluster: { host: '127.0.0.1', port: leaderNode.pgPort } },
    });
    const standbyLeader = await standby.waitForHealthy();
    const paths = [
      '/patroni',
      '/cluster',
      '/primary',
      '/replica',
      '/read-only',
      '/standby-leader',
      '/readiness',
      '/liveness',
      '/history',
      '/health',
    ];
    const keys = {
      about:
        `Every key of a real Patroni ${version} cluster (Debian 13 package; etcd ${STACK_VERSIONS.etcd}; ` +
        `PostgreSQL ${STACK_VERSIONS.postgres}; ttl 10; synchronous_mode quorum, failsafe_mode on; after one ` +
        'switchover) under /service/lab4/, and of a 1-node standby cluster replicating from it under ' +
        "/service/standby4/, read from etcd v3. 'lease': whether the key is attached to a lease. Values are " +
        'verbatim. Recorded by scripts/record-patroni-fixtures.ts.',
      stack: STACK,
      leader,
      replica: replica.name,
      standby_leader: standbyLeader,
      keys: { ...(await readKeys(etcd, '/service/lab4/')), ...(await readKeys(etcd, '/service/standby4/')) },
    };
    const rest = {
      about:
        `REST responses of the same Patroni ${version} clusters: every GET on the leader, on a replica and on ` +
        'the standby leader, with the HTTP status. Recorded by scripts/record-patroni-fixtures.ts.',
      leader: await restBodies(leaderNode.apiUrl, paths),
      replica: await restBodies(replica.apiUrl, paths),
      standby_leader: await restBodies(standby.node(standbyLeader).apiUrl, paths),
    };
    writeFileSync(new URL(`patroni-${version}-keys.json`, out), `${JSON.stringify(keys, null, 1)}\n`);
    writeFileSync(new URL(`patroni-${version}-rest.json`, out), `${JSON.stringify(rest, null, 1)}\n`);
    const list = await cluster.patronictl(['list', '-f', 'json', 'lab4']);
    writeFileSync(new URL(`patronictl-${version}-list.json`, out), list);
    console.log(`recorded patroni-${version}-keys.json, -rest.json, patronictl-${version}-list.json`);
  } finally {
    await standby?.stop();
    await cluster?.stop();
    await etcd.stop();
  }
}

await main();
