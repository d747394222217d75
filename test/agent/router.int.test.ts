import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { ProcessGroup, freePort, routerHaproxyTarget, startHaproxy, waitFor } from '../harness/index.js';
import { routerStatus, startRouterProcess, waitApplied } from '../harness/router.js';
import { SUPERUSER, agentLabForFile, serverBehind, switchoverAway } from './helpers.js';

// The Switchyard router follows an agent cluster exactly as it follows a Patroni one.
const lab = agentLabForFile();

const serverPort = async (port: number) => (await serverBehind(port))?.port ?? null;

test('the router sends writes to the agent leader and follows a switchover', async () => {
  const { etcd, cluster, leader } = await lab.start({ scope: 'routed', nodes: 2 });
  const group = ProcessGroup.create('agent-router');
  lab.onStop(() => group.cleanup());
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
  const haproxy = await startHaproxy({ configPath: `${dir}/haproxy.cfg` });
  lab.onStop(() => haproxy.stop());
  writeFileSync(`${dir}/haproxy.pid`, String(haproxy.pid));
  await waitApplied(router.api, 15_000);
  assert.equal((await routerStatus(router.api)).clusters['routed']?.leader, leader);
  await waitFor(async () => ((await serverPort(port)) === cluster.node(leader).pgPort ? true : null), {
    what: 'writes routed to the leader',
    timeoutMs: 15_000,
  });

  const next = await switchoverAway(cluster, leader);
  await waitFor(async () => ((await serverPort(port)) === cluster.node(next).pgPort ? true : null), {
    what: 'writes routed to the new leader',
    timeoutMs: 15_000,
    intervalMs: 50,
  });
  assert.equal((await routerStatus(router.api)).clusters['routed']?.leader, next);
});
