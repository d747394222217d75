import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  freePorts,
  patroniHaproxyConfig,
  sqlQuery,
  startEtcd,
  startHaproxy,
  waitFor,
  type EtcdCluster,
  type HaproxyInstance,
} from '../harness/index.js';
import { SUPERUSER, startAgentCluster, type AgentCluster } from './helpers.js';

// HAProxy configured as Patroni's documentation says (HTTP checks on the REST API) routes to the agent's primary.
let etcd: EtcdCluster | undefined;
let cluster: AgentCluster | undefined;
let haproxy: HaproxyInstance | undefined;

after(async () => {
  await haproxy?.stop();
  await cluster?.stopAll();
  await etcd?.stop();
});

async function backendPort(port: number): Promise<{ port: number; inRecovery: boolean } | null> {
  try {
    const rows = await sqlQuery<{ port: number; r: boolean }>(
      { port, user: SUPERUSER.username, password: SUPERUSER.password },
      'SELECT inet_server_port() AS port, pg_is_in_recovery() AS r',
    );
    return rows[0] ? { port: rows[0].port, inRecovery: rows[0].r } : null;
  } catch {
    return null;
  }
}

test("HAProxy with Patroni-style checks routes writes to the agent's leader and reads to its replica, and follows a switchover", async () => {
  etcd = await startEtcd();
  cluster = await startAgentCluster({ scope: 'hap', nodes: 2, etcd });
  for (const n of cluster.nodes) cluster.start(n.name);
  const leader = await cluster.waitForLeader({ timeoutMs: 90_000 });
  await cluster.waitForReplicas(['pg1', 'pg2']);
  const [primaryPort, replicaPort] = (await freePorts(2)) as [number, number];
  haproxy = await startHaproxy({
    config: patroniHaproxyConfig({
      nodes: cluster.nodes,
      primaryPort,
      replicaPort,
      statsSocket: `${cluster.group.dir}/haproxy.sock`,
      checkInter: '500ms',
    }),
  });
  const via = (port: number, wantPg: number, inRecovery: boolean) =>
    waitFor(
      async () => {
        const b = await backendPort(port);
        return b && b.port === wantPg && b.inRecovery === inRecovery ? b : null;
      },
      { what: `HAProxy :${port} to reach :${wantPg}`, timeoutMs: 20_000, intervalMs: 200 },
    );
  await via(primaryPort, cluster.node(leader).pgPort, false);
  const replica = leader === 'pg1' ? 'pg2' : 'pg1';
  await via(replicaPort, cluster.node(replica).pgPort, true);

  const res = await fetch(`${cluster.node(leader).apiUrl}/switchover`, {
    method: 'POST',
    body: JSON.stringify({ leader }),
    signal: AbortSignal.timeout(30_000),
  });
  assert.equal(res.status, 200, await res.text());
  const next = await cluster.waitForLeader({ not: leader, timeoutMs: 30_000 });
  await via(primaryPort, cluster.node(next).pgPort, false);
});
