// The local demo: a 3-member etcd, a 3-node Patroni 3.0.2 cluster, the Switchyard router and HAProxy on
// loopback. Shows a live view; keys switch over or kill the leader and print how fast the route followed.
// Reuses the test harness (test/harness/) to start and always clean up the real programs.
import { existsSync, writeFileSync } from 'node:fs';
import { createInterface, emitKeypressEvents } from 'node:readline';
import { parseRouterConfig } from '../src/config/router.js';
import { silentLogger } from '../src/log.js';
import { startRouter, type RunningRouter } from '../src/router/start.js';
import {
  PATRONI_SUPERUSER,
  ProcessGroup,
  freePorts,
  startEtcd,
  startHaproxy,
  startPatroniCluster,
  waitFor,
  type EtcdCluster,
  type HaproxyInstance,
  type PatroniCluster,
} from '../test/harness/index.js';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  console.log(`npm start [-- --keep]

Starts on 127.0.0.1: etcd (3 members), Patroni + PostgreSQL 15 (3 nodes), the Switchyard router and
HAProxy with a read-write and a read-only port. Then shows members, roles and the router's routes.
Keys: s = switchover, k = kill -9 the leader (Patroni and PostgreSQL), q or Ctrl-C = stop everything.
--keep  keep the temp directories (data, logs) after stopping.`);
  process.exit(0);
}
if (args.includes('--keep')) process.env['SWITCHYARD_HARNESS_KEEP'] = '1';

const step = (text: string) => process.stdout.write(`• ${text}\n`);
let etcd: EtcdCluster | undefined;
let cluster: PatroniCluster | undefined;
let haproxy: HaproxyInstance | undefined;
let router: RunningRouter | undefined;
let group: ProcessGroup | undefined;
let isStopping = false;

async function stop(code: number): Promise<never> {
  if (isStopping) process.exit(code);
  isStopping = true;
  process.stdout.write('\nstopping everything the demo started...\n');
  await router?.stop().catch(() => undefined);
  await haproxy?.stop().catch(() => undefined);
  await cluster?.stop().catch(() => undefined);
  await etcd?.stop().catch(() => undefined);
  await group?.cleanup().catch(() => undefined);
  process.stdout.write(args.includes('--keep') ? 'stopped (data kept).\n' : 'stopped; data removed.\n');
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  const started = Date.now();
  step('starting etcd (3 members)');
  etcd = await startEtcd({ members: 3 });
  step('starting Patroni + PostgreSQL 15 (3 nodes; the first bootstraps, the others clone)');
  cluster = await startPatroniCluster({ scope: 'demo', nodes: 3, etcd });
  await cluster.waitForHealthy();
  group = ProcessGroup.create('demo');
  const [rw, ro, api] = (await freePorts(3)) as [number, number, number];
  const dir = group.dir;
  const yaml = `
dcs: { type: etcd3, hosts: [${etcd.endpoints.map((e) => `"${e}"`).join(', ')}] }
namespace: /service
clusters: [demo]
api: { listen: "127.0.0.1:${api}" }
routing: { writable_probe: { method: sql, user: postgres, password: "${PATRONI_SUPERUSER.password}" } }
targets:
  haproxy:
    output: ${dir}/haproxy.cfg
    runtime_api: ${dir}/admin.sock
    state_file: ${dir}/haproxy.state
    reload: "kill -USR2 $(cat ${dir}/haproxy.pid)"
    timeouts: { connect: 300ms }
    frontends:
      demo: { primary: "127.0.0.1:${rw}", replicas: "127.0.0.1:${ro}" }
`;
  writeFileSync(`${dir}/router.yml`, yaml);
  step('starting the Switchyard router');
  router = await startRouter(parseRouterConfig(yaml, `${dir}/router.yml`), silentLogger());
  await waitFor(() => existsSync(`${dir}/haproxy.cfg`), {
    what: 'router renders haproxy.cfg',
    timeoutMs: 20_000,
  });
  step('starting HAProxy on the rendered config');
  haproxy = await startHaproxy({ configPath: `${dir}/haproxy.cfg` });
  writeFileSync(`${dir}/haproxy.pid`, String(haproxy.pid));
  await waitFor(() => router!.router.status().healthy, { what: 'router healthy', timeoutMs: 20_000 });
  const pg = `postgresql://postgres:${PATRONI_SUPERUSER.password}@127.0.0.1`;
  process.stdout.write(`
Ready in ${((Date.now() - started) / 1000).toFixed(1)} s.
  writes (leader):    psql "${pg}:${rw}/postgres"
  reads (replicas):   psql "${pg}:${ro}/postgres"
  router status:      curl -s http://127.0.0.1:${api}/status   (or: npx switchyard status --api 127.0.0.1:${api})
  router config:      ${dir}/router.yml
Keys: s = switchover   k = kill -9 the leader   q = quit
`);
  await liveView(cluster, router);
} catch (err) {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  await stop(1);
}

async function liveView(c: PatroniCluster, r: RunningRouter): Promise<void> {
  let event: { what: string; at: number; from: string | null } | null = null;
  let message = '';
  const draw = async () => {
    const members = await c.members().catch(() => []);
    const status = r.router.status();
    const app = status.clusters['demo'] as
      { leader: string | null; writer: string | null; replicas: string[] } | undefined;
    if (event && app?.leader && app.leader !== event.from && app.writer) {
      message = `${event.what}: writes routed to ${app.leader} ${((Date.now() - event.at) / 1000).toFixed(2)} s after the key press`;
      event = null;
    }
    const lines = [
      `${new Date().toISOString().slice(11, 19)}  router: writes → ${app?.leader ?? '(none)'} ${app?.writer ? `(${app.writer})` : ''}; reads → ${app?.replicas.join(', ') || '-'}; generation ${status.generation}`,
      ...members.map(
        (m) =>
          `  ${m.name.padEnd(5)} ${m.role.padEnd(14)} ${m.state.padEnd(10)} TL ${m.timeline ?? '-'}  lag ${m.lag ?? '-'}`,
      ),
      message ? `  ${message}` : '',
    ];
    if (process.stdout.isTTY) process.stdout.write(`\x1b[${lines.length + 1}A\x1b[J`);
    process.stdout.write(`${lines.join('\n')}\n\n`);
  };
  if (process.stdin.isTTY) {
    emitKeypressEvents(process.stdin);
    process.stdin.setRawMode(true);
    process.stdin.on('keypress', (_s: string, key: { name?: string; ctrl?: boolean }) => {
      if (key.name === 'q' || (key.ctrl && key.name === 'c')) void stop(0);
      const from =
        (r.router.status().clusters['demo'] as { leader: string | null } | undefined)?.leader ?? null;
      if (key.name === 's' && !event) {
        event = { what: 'switchover', at: Date.now(), from };
        message = 'switching over...';
        c.switchover().catch((err: Error) => (message = `switchover failed: ${err.message}`));
      }
      if (key.name === 'k' && !event) {
        event = { what: 'kill -9 of the leader', at: Date.now(), from };
        message = 'killed the leader; waiting for the ttl to expire and a new leader...';
        c.killLeader()
          .then((killed) =>
            c.waitForLeader({ not: killed, timeoutMs: 60_000 }).then(() => c.startNode(killed)),
          )
          .catch((err: Error) => (message = `failover: ${err.message}`));
      }
    });
  } else {
    createInterface({ input: process.stdin }).on('close', () => undefined);
  }
  process.stdout.write('\n'.repeat(6));
  for (;;) {
    await draw();
    await new Promise((res) => setTimeout(res, 1000));
  }
}
