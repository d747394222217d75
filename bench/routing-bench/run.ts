// The public patroni-routing-bench's three scenarios with its client method, on this machine's lab:
//
//   node --import tsx bench/routing-bench/run.ts [--iterations 2] [--scenarios switchover,hard_stop,hard_kill]
//                                                [--out bench/results/routing-bench-<date>.json]
//
// One real Patroni 3.0.2 cluster (3 nodes, etcd, ttl 10, loop_wait 2, retry_timeout 4) and, side by
// side in the same run, two endpoints over the same nodes:
//   R: the Switchyard router (compiled HEAD, default configuration: writable_probe auto → GET /patroni)
//      driving HAProxy's runtime API;
//   H: HAProxy polling Patroni's REST API as that bench's combination 06 does (`option httpchk GET
//      /primary`, `inter 2s fall 3 rise 2 on-marked-down shutdown-sessions`).
// Each endpoint has its own heartbeat client (a new connection per INSERT, connect_timeout 5 s, 100 ms
// between attempts; downtime = first failed attempt → first successful attempt after it). A direct
// writer per node (every 10 ms, persistent connection), a watch on the leader key and a poll of every
// node's `GET /patroni` give the per-event timeline. Scenarios: switchover = `patronictl switchover
// --force`; hard_stop = SIGTERM to the leader's Patroni (it stops PostgreSQL and releases the key);
// hard_kill = SIGKILL to the leader's Patroni and PostgreSQL (the key expires after ttl).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { Etcd3 } from 'etcd3';
import {
  PATRONI_SUPERUSER,
  ProcessGroup,
  httpRequest,
  startEtcd,
  startPollingHaproxy,
  waitFor,
  type HaproxyInstance,
  type PatroniCluster,
} from '../../test/harness/index.js';
import { startRoutedHaproxy, type RoutedHaproxy } from '../../test/harness/patroni-router.js';
import { ROOT } from '../../test/harness/router.js';
import { DirectWriteProbe } from '../lib/direct.js';
import { buildRouter, compiledRouterLaunch } from '../route-convergence/router.js';
import {
  restoreCluster,
  runLeaderEvent,
  startBenchCluster,
  type LeaderChange,
} from '../lib/leader-events.js';
import {
  HeartbeatClient,
  heartbeatDowntime,
  longestAckGap,
  type HeartbeatAttempt,
} from '../lib/heartbeat.js';
import { fmt, markdownTable, sleep, summarize } from '../lib/stats.js';

type Scenario = LeaderChange;
/** R: router with the default HAProxy template; R0: same router, the template values before (retries 2, timeout connect 1s); H: REST polling. */
type Endpoint = 'R' | 'R0' | 'H';
const ENDPOINTS: readonly Endpoint[] = ['R', 'R0', 'H'];
const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '2' },
    scenarios: { type: 'string', default: 'switchover,hard_stop,hard_kill' },
    out: {
      type: 'string',
      default: `bench/results/routing-bench-${new Date().toISOString().slice(0, 10)}.json`,
    },
  },
});
const ITERATIONS = Number(values.iterations);
const SCENARIOS = (values.scenarios as string).split(',') as Scenario[];
const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${line}\n`);

interface EventResult {
  scenario: Scenario;
  from: string;
  to: string;
  /** ms after the request (t0); null = not seen. */
  timeline: Record<string, number | null>;
  downtime: Record<Endpoint, ReturnType<typeof heartbeatDowntime>>;
  /** Longest time without an acknowledged INSERT (commit end times), per endpoint. */
  ackGapMs: Record<Endpoint, number>;
}

/** Polls every node's `GET /patroni` every 10 ms; keeps the first time each node reported a primary role. */
class RolePoller {
  readonly primaryAt = new Map<string, number>();
  private isStopped = false;
  private done: Promise<void> | null = null;
  constructor(private readonly nodes: ReadonlyArray<{ name: string; apiUrl: string }>) {}
  start(): this {
    this.done = (async () => {
      const deadline = Date.now() + 300_000;
      while (!this.isStopped && Date.now() < deadline) {
        await Promise.all(
          this.nodes.map(async (n) => {
            const r = await httpRequest(`${n.apiUrl}/patroni`, { timeoutMs: 500 }).catch(() => null);
            if (!r || r.status !== 200 || this.primaryAt.has(n.name)) return;
            try {
              const doc = JSON.parse(r.body) as { role?: string; state?: string };
              if ((doc.role === 'master' || doc.role === 'primary') && doc.state === 'running')
                this.primaryAt.set(n.name, Date.now());
            } catch {
              // not JSON: not a primary
            }
          }),
        );
        await sleep(10);
      }
    })();
    return this;
  }
  async stop(): Promise<void> {
    this.isStopped = true;
    await this.done;
  }
}

async function main(): Promise<void> {
  const loadStart = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const build = await buildRouter(`${ROOT}.tmp/routing-bench-src`);
  log(`router at ${build.commit.slice(0, 12)}, load ${loadStart}`);
  const etcd = await startEtcd();
  const group = ProcessGroup.create('routing-bench');
  let cluster: PatroniCluster | undefined;
  const routers: RoutedHaproxy[] = [];
  let haH: HaproxyInstance | undefined;
  let watch: Etcd3 | undefined;
  const events: EventResult[] = [];
  try {
    cluster = await startBenchCluster(etcd, 'prb');
    const portOf = (name: string) => (cluster as PatroniCluster).node(name).pgPort;
    const startR = async (name: string, suffix: string, haproxy: Record<string, unknown>) => {
      const routed = await startRoutedHaproxy(group, {
        dcs: { type: 'etcd3', hosts: etcd.endpoints },
        cluster: 'prb',
        name,
        suffix,
        haproxy,
        launch: compiledRouterLaunch(build.buildDir),
      });
      routers.push(routed);
      return routed.primaryPort;
    };
    const portR = await startR('router', '-r', {});
    // R0: the HAProxy retry settings of the template before (retries 2, timeout connect 1s), same router code
    const portR0 = await startR('router0', '-r0', { retries: 2, timeouts: { connect: '1s' } });
    const listenerH = await startPollingHaproxy(group.dir, cluster.nodes, {
      suffix: '-h',
      checkInter: '2s',
      timeoutConnect: '5s',
    });
    haH = listenerH.haproxy;
    const portH = listenerH.primaryPort;
    const ports: Record<Endpoint, number> = { R: portR, R0: portR0, H: portH };

    // the leader key as etcd reports it: released (delete, or a put naming someone else) and taken
    const keyEvents: Array<{ at: number; value: string | null }> = [];
    watch = new Etcd3({ hosts: etcd.clientUrls });
    const watcher = await watch.watch().key('/service/prb/leader').create();
    watcher.on('put', (kv) => keyEvents.push({ at: Date.now(), value: kv.value.toString() }));
    watcher.on('delete', () => keyEvents.push({ at: Date.now(), value: null }));

    const routesTo = async (port: number, name: string, what: string) => {
      const c = new HeartbeatClient(port, PATRONI_SUPERUSER.password, 100);
      c.start();
      try {
        await waitFor(() => c.attempts.some((a) => a.isOk && a.port === portOf(name)), {
          what,
          timeoutMs: 60_000,
          intervalMs: 100,
        });
      } finally {
        await c.stop();
      }
    };
    const allRouteTo = async (leader: string, what: string) => {
      await Promise.all(ENDPOINTS.map((k) => routesTo(ports[k], leader, `${k} routes to ${what}`)));
    };
    const nodes = cluster.nodes;
    const nodePorts = nodes.map((n) => n.pgPort);

    for (let it = 0; it < ITERATIONS; it++) {
      for (const scenario of SCENARIOS) {
        const { from, to, t0, seen } = await runLeaderEvent({
          cluster,
          change: scenario,
          routesTo: allRouteTo,
          settleMs: 1500,
          tailMs: 1000,
          observe: (from) => {
            const clients = {
              R: new HeartbeatClient(portR, PATRONI_SUPERUSER.password).start(),
              R0: new HeartbeatClient(portR0, PATRONI_SUPERUSER.password).start(),
              H: new HeartbeatClient(portH, PATRONI_SUPERUSER.password).start(),
            };
            const direct = new DirectWriteProbe(nodePorts, PATRONI_SUPERUSER.password).start();
            const roles = new RolePoller(nodes.filter((n) => n.name !== from)).start();
            return async () => {
              const attempts: Record<Endpoint, HeartbeatAttempt[]> = {
                R: await clients.R.stop(),
                R0: await clients.R0.stop(),
                H: await clients.H.stop(),
              };
              const acks = await direct.stop();
              await roles.stop();
              return { attempts, acks, roles };
            };
          },
        });
        const { attempts, acks, roles } = seen;
        const since = (at: number | undefined | null) => (at === undefined || at === null ? null : at - t0);
        const oldAcks = acks.filter((a) => a.port === portOf(from) && a.ackAt <= t0 + 120_000);
        const lastOld = oldAcks.filter((a) => a.ackAt >= t0 - 1000).at(-1)?.ackAt ?? null;
        const firstNew = acks.find((a) => a.port === portOf(to) && a.ackAt >= t0)?.ackAt ?? null;
        const released = keyEvents.find((e) => e.at >= t0 && e.value !== from)?.at ?? null;
        const taken = keyEvents.find((e) => e.at >= t0 && e.value === to)?.at ?? null;
        const routed = (k: Endpoint) =>
          attempts[k].find((a) => a.at >= t0 && a.isOk && a.port === portOf(to))?.doneAt ?? null;
        const event: EventResult = {
          scenario,
          from,
          to,
          timeline: {
            'old primary: last direct write': since(lastOld),
            'key released': since(released),
            'key taken': since(taken),
            'promoted (GET /patroni primary)': since(roles.primaryAt.get(to)),
            'writable (first direct write)': since(firstNew),
            'routed R': since(routed('R')),
            'routed R0': since(routed('R0')),
            'routed H': since(routed('H')),
          },
          downtime: Object.fromEntries(
            ENDPOINTS.map((k) => [k, heartbeatDowntime(attempts[k], t0 - 200)]),
          ) as EventResult['downtime'],
          ackGapMs: Object.fromEntries(
            ENDPOINTS.map((k) => [k, longestAckGap(attempts[k], t0 - 200)]),
          ) as EventResult['ackGapMs'],
        };
        events.push(event);
        log(
          `${scenario} #${it + 1} ${from}→${to}: ` +
            ENDPOINTS.map(
              (k) =>
                `${k}: no ack ${event.ackGapMs[k]} ms, downtime ${event.downtime[k].downtimeMs} ms (${event.downtime[k].failures} failed, ${event.downtime[k].readOnlyFailures} read-only)`,
            ).join('; ') +
            '; timeline ' +
            Object.entries(event.timeline)
              .map(([k, v]) => `${k} ${v}`)
              .join(', '),
        );
        await restoreCluster(cluster, { from }, scenario);
      }
    }
  } finally {
    watch?.close();
    await group.cleanup();
    for (const r of routers) await r.haproxy.stop();
    await haH?.stop();
    await cluster?.stop();
    await etcd.stop();
  }

  const loadEnd = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const cell = (s: Scenario, k: Endpoint) => {
    const v = events.filter((e) => e.scenario === s).map((e) => e.downtime[k].downtimeMs ?? NaN);
    const sum = summarize(v);
    const ro = events.filter((e) => e.scenario === s).reduce((n, e) => n + e.downtime[k].readOnlyFailures, 0);
    const gaps = events.filter((e) => e.scenario === s).map((e) => (e.ackGapMs[k] / 1000).toFixed(2));
    return `${v.map((x) => (x / 1000).toFixed(2)).join(', ')} s (median ${fmt(sum.median / 1000, 2)}; ${ro} read-only; no ack for ${gaps.join(', ')} s)`;
  };
  const table = markdownTable(
    ['endpoint (Patroni 3.0.2, ttl 10, loop_wait 2)', ...SCENARIOS],
    [
      [
        'R: Switchyard router (defaults: retries 20, timeout connect 100ms) → HAProxy runtime API',
        ...SCENARIOS.map((s) => cell(s, 'R')),
      ],
      [
        'R0: same router, template values before (retries 2, timeout connect 1s)',
        ...SCENARIOS.map((s) => cell(s, 'R0')),
      ],
      [
        'H: HAProxy REST polling (GET /primary, inter 2s fall 3 rise 2)',
        ...SCENARIOS.map((s) => cell(s, 'H')),
      ],
    ],
  );
  const keys = Object.keys(events[0]?.timeline ?? {});
  const timeline = markdownTable(
    ['#', 'scenario', 'leader', ...keys, ...ENDPOINTS.map((k) => `downtime ${k} / no ack ${k}`)],
    events.map((e, i) => [
      String(i + 1),
      e.scenario,
      `${e.from}→${e.to}`,
      ...keys.map((k) => (e.timeline[k] === null ? '–' : `${e.timeline[k]}`)),
      ...ENDPOINTS.map((k) => `${e.downtime[k].downtimeMs ?? '–'} / ${e.ackGapMs[k]}`),
    ]),
  );
  const text = [
    `## patroni-routing-bench scenarios, ${new Date().toISOString().slice(0, 16)}Z, router at ${build.commit.slice(0, 12)}`,
    '',
    `Load average at start ${loadStart}, at end ${loadEnd} (2 cores, shared with other test runs).`,
    'Client: a new connection per INSERT, connect_timeout 5 s, 100 ms between attempts; downtime = first failed attempt → first successful one (attempt start times, as patroni-routing-bench computes it); "no ack" = the longest time between two acknowledged INSERTs (end times): HAProxy holds new connections while no server is up, so an attempt can wait instead of failing.',
    '',
    table,
    '',
    'Timeline per event (ms after the request; from outside: direct writers every 10 ms, etcd watch, GET /patroni every 10 ms, the heartbeat clients):',
    '',
    timeline,
    '',
  ].join('\n');
  process.stdout.write(text);
  mkdirSync(dirname(values.out as string), { recursive: true });
  writeFileSync(
    values.out as string,
    `${JSON.stringify({ commit: build.commit, loadStart, loadEnd, events }, null, 2)}\n`,
  );
}

// exit explicitly: a leftover handle (a keep-alive socket to a stopped node) must not hold the heavy slot
main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `routing-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
