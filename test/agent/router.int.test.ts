import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import {
  ProcessGroup,
  freePort,
  startEtcd,
  routerHaproxyTarget,
  startHaproxy,
  waitFor,
  type EtcdCluster,
  type HaproxyInstance,
} from '../harness/index.js';
import { routerStatus, startRouterProcess, waitApplied } from '../integration/helpers.js';
import {
  SUPERUSER,
  serverBehind,
  startAgentCluster,
  startAll,
  switchoverAway,
  type AgentCluster,
} from './helpers.js';

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

const serverPort = async (port: number) => (await serverBehind(port))?.port ?? null;

test('the router sends writes to the agent leader and follows a switchover', async () => {
  etcd = await startEtcd();
  cluster = await startAgentCluster({ scope: 'routed', nodes: 2, etcd });
  const leader = await startAll(cluster);
  group = ProcessGroup.create('agent-router');
  const dir = group.dir;
  const port = await freePort();
  const router = await startRouterProcess(group, 'router', {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    clusters: ['routed'],
    routing: { writable_probe: { method: 'sql', user: 'postgres', password: SUPERUSER.password } },
    targets: {
      haproxy: routerHaproxyTarget(dir, { routed: { primary: `127.0.0.1:${port}` } }),
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

  const next = await switchoverAway(cluster, leader);
  await waitFor(async () => ((await serverPort(port)) === cluster!.node(next).pgPort ? true : null), {
    what: 'writes routed to the new leader',
    timeoutMs: 15_000,
    intervalMs: 50,
  });
  assert.equal((await routerStatus(router.api)).clusters['routed']?.leader, next);
});
