import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import {
  ProcessGroup,
  freePort,
  sqlQuery,
  startEtcd,
  startHaproxy,
  waitFor,
  type EtcdCluster,
  type HaproxyInstance,
} from '../harness/index.js';
import { routerStatus, startRouterProcess, waitApplied } from '../harness/router.js';
import { SUPERUSER, startAgentCluster, type AgentCluster } from './helpers.js';

// The Switchyard router follows an agent cluster exactly as it follows a Patroni one.
let etcd: EtcdCluster | undefined;
let cluster: AgentCluster | undefined;
let haproxy: HaproxyInstance | undefined;
let group: ProcessGroup | undefined;

after(async () => {
  await group?.cleanup();
  await haproxy?.stop();
  await cluster?.stopAll();
  await etcd?.stop();
});

const serverPort = async (port: number) =>
  (
    await sqlQuery<{ p: number }>(
      { port, user: SUPERUSER.username, password: SUPERUSER.password },
      'SELECT inet_server_port() AS p',
    ).catch(() => [])
  )[0]?.p ?? null;

test('the router sends writes to the agent leader and follows a switchover', async () => {
  etcd = await startEtcd();
  cluster = await startAgentCluster({ scope: 'routed', nodes: 2, etcd });
  for (const n of cluster.nodes) cluster.start(n.name);
  const leader = await cluster.waitForLeader({ timeoutMs: 90_000 });
  await cluster.waitForReplicas(['pg1', 'pg2']);
  group = ProcessGroup.create('agent-router');
  const dir = group.dir;
  const port = await freePort();
  const router = await startRouterProcess(group, 'router', {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    clusters: ['routed'],
    routing: { writable_probe: { method: 'sql', user: 'postgres', password: SUPERUSER.password } },
    targets: {
      haproxy: {
        output: `${dir}/haproxy.cfg`,
        runtime_api: `${dir}/admin.sock`,
        state_file: `${dir}/haproxy.state`,
        reload: `kill -USR2 $(cat ${dir}/haproxy.pid)`,
        timeouts: { connect: '300ms' },
        checks: { inter: '1s', fall: 2, rise: 2 },
        frontends: { routed: { primary: `127.0.0.1:${port}` } },
      },
    },
  });
  await waitFor(async () => (await routerStatus(router.api)).clusters['routed']?.writable === true || null, {
    what: 'router sees the agent leader writable',
    timeoutMs: 30_000,
  });
  await waitFor(() => existsSync(`${dir}/haproxy.cfg`) || null, {
    what: 'router wrote haproxy.cfg',
    timeoutMs: 15_000,
  });
  haproxy = await startHaproxy({ configPath: `${dir}/haproxy.cfg` });
  writeFileSync(`${dir}/haproxy.pid`, String(haproxy.pid));
  await waitApplied(router.api, 15_000);
  assert.equal((await routerStatus(router.api)).clusters['routed']?.leader, leader);
  await waitFor(async () => ((await serverPort(port)) === cluster!.node(leader).pgPort ? true : null), {
    what: 'writes routed to the leader',
    timeoutMs: 15_000,
  });

  const res = await fetch(`${cluster.node(leader).apiUrl}/switchover`, {
    method: 'POST',
    body: JSON.stringify({ leader }),
    signal: AbortSignal.timeout(30_000),
  });
  assert.equal(res.status, 200, await res.text());
  const next = await cluster.waitForLeader({ not: leader, timeoutMs: 30_000 });
  await waitFor(async () => ((await serverPort(port)) === cluster!.node(next).pgPort ? true : null), {
    what: 'writes routed to the new leader',
    timeoutMs: 15_000,
    intervalMs: 50,
  });
  assert.equal((await routerStatus(router.api)).clusters['routed']?.leader, next);
});
