// Part 1: one real Patroni cluster (3.0.2, or 4.0.7 with SWITCHYARD_STACK=trixie; etcd v3 or v2 API), two HAProxy listeners over the same nodes (A: Switchyard
// runtime API + sql writable probe; B: Patroni-style HTTP checks), a writer through each, a direct
// write probe on every node, planned switchovers and kill -9 failovers.
import { PATRONI_SUPERUSER, ProcessGroup, startEtcd, startPollingHaproxy } from '../../test/harness/index.js';
import type { HaproxyInstance, PatroniCluster } from '../../test/harness/index.js';
import { waitFor } from '../../test/harness/wait.js';
import {
  LeaderTimeline,
  startRoutedHaproxy,
  watchLeaderV3,
  type RoutedHaproxy,
} from '../../test/harness/patroni-router.js';
import { STACK, STACK_VERSIONS } from '../../test/harness/stack.js';
import { BUILD_DIR, compiledRouterLaunch } from './router.js';
import { restoreCluster, runLeaderEvent, startBenchCluster } from '../lib/leader-events.js';
import { Writer, acksFromNonHolders, type Ack, type WriterResult } from '../../test/harness/writer.js';
import { startPgBouncerBed, type PgBouncerBed } from '../../test/targets/pgbouncer/bed.js';
import { DirectWriteProbe, ServerStatePoller, type DirectAck } from '../lib/direct.js';
import { sampleProc, sleep, summarize, type Summary } from '../lib/stats.js';

export type EventKind = 'switchover' | 'failover';
export type ListenerName = 'A' | 'B' | 'P';
const LISTENERS = ['A', 'B', 'P'] as const;

export interface ListenerEvent {
  /** Longest gap between consecutive acknowledged writes in the event window (ms). */
  outageMs: number;
  /** First write acknowledged through the listener by the new primary − first direct write it accepted (ms). */
  routeLagMs: number | null;
  errors: Record<string, number>;
  readOnlyErrors: number;
  acks: number;
  /** Acks from a node that did not hold the leader key between sending and acknowledging. */
  nonHolderAcks: number;
  /**
   * Breakdown of the route lag: HAProxy had the new primary running (`show servers state`, polled every
   * ~5 ms) − first direct write it accepted; and first ack through the listener − that moment (the
   * client's reconnect through the listener).
   */
  haproxyUpLagMs: number | null;
  clientAfterUpMs: number | null;
}

export interface PatroniEvent {
  kind: EventKind;
  from: string;
  to: string;
  /** Command (or kill) → new leader accepts writes, per the harness (ms). */
  commandMs: number;
  /** Last direct write accepted by the old primary → first accepted by the new one (ms). */
  directOutageMs: number | null;
  /** Router log: the leader key's change to the new leader seen by the router − first direct write accepted (ms). */
  routerSawKeyMs: number | null;
  /**
   * The event's timeline from outside, ms after the request (t0): the old primary's last direct write,
   * the leader key released and taken (the bench's own etcd watch), the new primary's first direct
   * write, and the first write routed through each listener to it.
   */
  timeline: {
    oldLastWrite: number | null;
    keyReleased: number | null;
    keyTaken: number | null;
    writable: number | null;
    routed: Record<ListenerName, number | null>;
  };
  listeners: Record<ListenerName, ListenerEvent>;
}

export interface PatroniPartResult {
  settings: Record<string, unknown>;
  events: PatroniEvent[];
  routerRssKb: number;
  summary: Record<ListenerName, Record<EventKind | 'all', { outage: Summary; routeLag: Summary }>> & {
    direct: Record<EventKind | 'all', Summary>;
  };
  totals: Record<
    ListenerName,
    { acks: number; errors: Record<string, number>; readOnlyErrors: number; nonHolderAcks: number }
  >;
}

/** Error message → a kind, read-only errors apart. */
export function errorKind(message: string): string {
  if (/read-only transaction/.test(message)) return 'read-only';
  if (/ECONNREFUSED/.test(message)) return 'connection refused';
  if (/timeout|timed out/i.test(message)) return 'timeout';
  if (/terminating connection|administrator command/.test(message)) return 'terminated by server';
  if (/the database system is (starting up|shutting down|in recovery)/.test(message))
    return 'server starting/stopping';
  if (/Connection terminated|ECONNRESET|closed|EPIPE|end of file/i.test(message)) return 'connection closed';
  return 'other';
}

function classify(errors: ReadonlyMap<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [message, n] of errors) out[errorKind(message)] = (out[errorKind(message)] ?? 0) + n;
  return out;
}

/** Longest gap between consecutive acks inside [from, to]; the window edges count as acks. */
function longestGap(acks: readonly Ack[], from: number, to: number): number {
  const times = [from, ...acks.filter((a) => a.ackAt >= from && a.ackAt <= to).map((a) => a.ackAt), to];
  let worst = 0;
  for (let i = 1; i < times.length; i++)
    worst = Math.max(worst, (times[i] as number) - (times[i - 1] as number));
  return worst;
}

function firstAck<T extends { ackAt: number; port: number }>(
  acks: readonly T[],
  port: number,
  after: number,
): number | null {
  let first: number | null = null;
  for (const a of acks)
    if (a.port === port && a.ackAt >= after && (first === null || a.ackAt < first)) first = a.ackAt;
  return first;
}

function directOutage(acks: readonly DirectAck[], oldPort: number, newFirst: number | null): number | null {
  if (newFirst === null) return null;
  let last: number | null = null;
  for (const a of acks)
    if (a.port === oldPort && a.ackAt < newFirst && (last === null || a.ackAt > last)) last = a.ackAt;
  return last === null ? null : newFirst - last;
}

/** Time (router log) at which the router first logged the leader moving to `to`, at or after `after`. */
function routerSawLeader(logText: string, to: string, after: number): number | null {
  for (const line of logText.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { time?: number; msg?: string; to?: string | null };
      if (
        entry.time !== undefined &&
        entry.time >= after &&
        entry.to === to &&
        entry.msg?.startsWith('leader of ')
      )
        return entry.time;
    } catch {
      // not a log line
    }
  }
  return null;
}

/** One write through `port`; resolves to the port of the node that committed it, or null. */
async function oneWrite(port: number): Promise<number | null> {
  const r = await new Writer(port, PATRONI_SUPERUSER.password, 10, 1).start().stop();
  return r.acks[0]?.port ?? null;
}

/**
 * The leader key's holder over time from etcd's v2 API (`dcs.type: etcd`): a long-poll watch from
 * `X-Etcd-Index + 1`, re-reading after any error. Calls `record` with each holder (null: no key).
 */
function watchLeaderV2(
  endpoint: string,
  key: string,
  record: (name: string | null) => void,
): { stop: () => void; ready: Promise<void> } {
  const controller = new AbortController();
  const url = `http://${endpoint}/v2/keys${key}`;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (markReady = r));
  void (async () => {
    while (!controller.signal.aborted) {
      try {
        const res = await fetch(url, { signal: controller.signal });
        const index = Number(res.headers.get('x-etcd-index'));
        const body = (await res.json()) as { node?: { value?: string } };
        record(res.status === 200 ? (body.node?.value ?? null) : null);
        markReady();
        let next = index + 1;
        while (!controller.signal.aborted) {
          const w = await fetch(`${url}?wait=true&waitIndex=${next}`, { signal: controller.signal });
          const event = (await w.json()) as {
            action?: string;
            node?: { value?: string; modifiedIndex?: number };
          };
          if (!event.action) break; // e.g. 401 EventIndexCleared: read again
          record(
            /^(set|create|update|compareAndSwap)$/.test(event.action) ? (event.node?.value ?? null) : null,
          );
          next = (event.node?.modifiedIndex ?? next) + 1;
        }
      } catch {
        if (!controller.signal.aborted) await sleep(50);
      }
    }
  })();
  return { stop: () => controller.abort(), ready };
}

export async function runPatroniPart(opts: {
  switchovers: number;
  failovers: number;
  log: (line: string) => void;
  /** Which etcd API Patroni and the router use: `etcd3` (default) or `etcd` (v2, `--enable-v2`). */
  dcsApi?: 'etcd3' | 'etcd';
}): Promise<PatroniPartResult> {
  const dcsApi = opts.dcsApi ?? 'etcd3';
  const etcd = await startEtcd(dcsApi === 'etcd' ? { enableV2: true } : {});
  let stopV2Watch: (() => void) | undefined;
  let cluster: PatroniCluster | undefined;
  let routed: RoutedHaproxy | undefined;
  let haB: HaproxyInstance | undefined;
  let bed: PgBouncerBed | undefined;
  let leaderWatch: Awaited<ReturnType<typeof watchLeaderV3>> | undefined;
  const group = ProcessGroup.create('route-bench-patroni');
  try {
    cluster = await startBenchCluster(etcd, 'bench', dcsApi);
    const portOf = (name: string) => (cluster as PatroniCluster).node(name).pgPort;
    const portToName = new Map(cluster.nodes.map((n) => [n.pgPort, n.name]));
    const nodePorts = cluster.nodes.map((n) => n.pgPort);

    // The leader-key timeline as etcd reports it, for the "acks from non-holders" check.
    let spans: LeaderTimeline['spans'];
    if (dcsApi === 'etcd') {
      const timeline = new LeaderTimeline();
      const v2 = watchLeaderV2(etcd.endpoints[0] as string, '/service/bench/leader', (n) =>
        timeline.record(n),
      );
      stopV2Watch = v2.stop;
      await v2.ready;
      spans = timeline.spans;
    } else {
      leaderWatch = await watchLeaderV3(etcd.clientUrls, 'bench');
      spans = leaderWatch.timeline.spans;
    }

    const dir = group.dir;
    // P: a PgBouncer (1.18, or 1.24 on trixie) the same router repoints (its database `postgres`, so one writer fits all).
    bed = await startPgBouncerBed('[databases]\n');
    const portP = bed.bouncer.port;
    // A: the router renders the file and drives HAProxy's runtime API; routing.writable_probe left at
    // its default (auto: no password here, so GET /patroni every 20 ms).
    routed = await startRoutedHaproxy(group, {
      dcs: { type: dcsApi, hosts: etcd.endpoints },
      cluster: 'bench',
      suffix: '-a',
      haproxy: { timeouts: { connect: '300ms' } },
      targets: {
        pgbouncer: {
          output: bed.routesPath,
          databases: { postgres: { cluster: 'bench', dbname: 'postgres' } },
          admin: { host: '127.0.0.1', port: portP, user: 'pgbouncer_admin' },
        },
      },
      launch: compiledRouterLaunch(BUILD_DIR),
      writableTimeoutMs: 30_000,
    });
    const { router, primaryPort: portA } = routed;

    // B: Patroni's recommended HAProxy config (HTTP checks on /primary, inter 3s fall 3 rise 2).
    const listenerB = await startPollingHaproxy(dir, cluster.nodes, { suffix: '-b', checkInter: '3s' });
    haB = listenerB.haproxy;
    const portB = listenerB.primaryPort;
    const routedTo = async (port: number, name: string, what: string) =>
      waitFor(async () => (await oneWrite(port)) === portOf(name), {
        what,
        timeoutMs: 60_000,
        intervalMs: 200,
      });
    const routesTo = async (leader: string, what: string) => {
      await routedTo(portA, leader, `A routes to ${what}`);
      await routedTo(portB, leader, `B routes to ${what}`);
      await routedTo(portP, leader, `P routes to ${what}`);
    };
    await routesTo(await cluster.waitForHealthy(), 'the leader');
    const routerRssKb = sampleProc(router.proc.pid).rssKb;

    const plan: EventKind[] = [
      ...Array<EventKind>(opts.switchovers).fill('switchover'),
      ...Array<EventKind>(opts.failovers).fill('failover'),
    ];
    const events: PatroniEvent[] = [];
    for (const [i, kind] of plan.entries()) {
      const change = kind === 'switchover' ? 'switchover' : 'hard_kill';
      const { from, to, t0, commandMs, seen } = await runLeaderEvent({
        cluster,
        change,
        routesTo,
        settleMs: 1000,
        tailMs: 500,
        observe: () => {
          const writers = {
            A: new Writer(portA, PATRONI_SUPERUSER.password).start(),
            B: new Writer(portB, PATRONI_SUPERUSER.password).start(),
            P: new Writer(portP, PATRONI_SUPERUSER.password).start(),
          };
          const direct = new DirectWriteProbe(nodePorts, PATRONI_SUPERUSER.password).start();
          const pollers = {
            A: new ServerStatePoller(`${dir}/admin-a.sock`, 'bench_primary').start(),
            B: new ServerStatePoller(`${dir}/admin-b.sock`, 'primary').start(),
          };
          return async () => {
            const results: Record<ListenerName, WriterResult> = {
              A: await writers.A.stop(),
              B: await writers.B.stop(),
              P: await writers.P.stop(),
            };
            const directAcks = await direct.stop();
            await pollers.A.stop();
            await pollers.B.stop();
            return { results, directAcks, pollers };
          };
        },
      });
      const { results, directAcks, pollers } = seen;
      const end = Date.now();
      const firstDirect = firstAck(directAcks, portOf(to), t0);
      const listeners = {} as Record<ListenerName, ListenerEvent>;
      for (const name of LISTENERS) {
        const r = results[name];
        const firstRouted = firstAck(r.acks, portOf(to), t0);
        const up = name === 'P' ? null : pollers[name].firstUp(to, t0);
        listeners[name] = {
          outageMs: longestGap(r.acks, t0 - 500, end),
          routeLagMs: firstRouted !== null && firstDirect !== null ? firstRouted - firstDirect : null,
          errors: classify(r.errors),
          readOnlyErrors: r.readOnlyErrors,
          acks: r.acks.length,
          nonHolderAcks: acksFromNonHolders(r.acks, spans, portToName).length,
          haproxyUpLagMs: up !== null && firstDirect !== null ? up - firstDirect : null,
          clientAfterUpMs: up !== null && firstRouted !== null ? firstRouted - up : null,
        };
      }
      const rel = (at: number | null | undefined) => (at === null || at === undefined ? null : at - t0);
      const sawKey = routerSawLeader(group.logTail('router', 200), to, t0);
      const event: PatroniEvent = {
        kind,
        from,
        to,
        commandMs,
        directOutageMs: directOutage(directAcks, portOf(from), firstDirect),
        routerSawKeyMs: sawKey !== null && firstDirect !== null ? sawKey - firstDirect : null,
        timeline: {
          oldLastWrite: rel(
            directAcks.filter((a) => a.port === portOf(from) && a.ackAt <= (firstDirect ?? end)).at(-1)
              ?.ackAt,
          ),
          keyReleased: rel(spans.find((sp) => sp.from >= t0 && sp.name !== from)?.from),
          keyTaken: rel(spans.find((sp) => sp.from >= t0 && sp.name === to)?.from),
          writable: rel(firstDirect),
          routed: {
            A: rel(firstAck(results.A.acks, portOf(to), t0)),
            P: rel(firstAck(results.P.acks, portOf(to), t0)),
            B: rel(firstAck(results.B.acks, portOf(to), t0)),
          },
        },
        listeners,
      };
      events.push(event);
      opts.log(
        `patroni ${i + 1}/${plan.length} ${kind} ${from}→${to}: direct outage ${event.directOutageMs} ms; ` +
          `router saw key ${event.routerSawKeyMs}; A outage ${listeners.A.outageMs} lag ${listeners.A.routeLagMs} ` +
          `(haproxy up ${listeners.A.haproxyUpLagMs} + client ${listeners.A.clientAfterUpMs}) ro ${listeners.A.readOnlyErrors} nonholder ${listeners.A.nonHolderAcks}; ` +
          `B outage ${listeners.B.outageMs} lag ${listeners.B.routeLagMs} ro ${listeners.B.readOnlyErrors}; ` +
          `P outage ${listeners.P.outageMs} lag ${listeners.P.routeLagMs} ro ${listeners.P.readOnlyErrors} nonholder ${listeners.P.nonHolderAcks}`,
      );
      await restoreCluster(cluster, { from }, change);
    }
    return {
      settings: {
        stack: { name: STACK, ...STACK_VERSIONS },
        patroni: {
          version: STACK_VERSIONS.patroni,
          dcs: dcsApi,
          ttl: 10,
          loop_wait: 2,
          retry_timeout: 4,
          nodes: 3,
        },
        A: {
          writable_probe: 'default (auto → rest: GET /patroni live role every 20 ms, no login)',
          timeout_connect: '300ms',
          checks: 'GET /primary inter 3s fall 3 rise 2 (router defaults)',
        },
        B: {
          checks: 'option httpchk GET /primary, inter 3s fall 3 rise 2 on-marked-down shutdown-sessions',
          timeout_connect: '2s',
        },
        P: `PgBouncer ${STACK_VERSIONS.pgbouncer} (transaction mode) repointed by the same router, pgbouncer target defaults`,
        writers: 'one per listener, INSERT every 10 ms, reconnect on error',
        direct: 'INSERT every 10 ms on every node, persistent connection per node',
      },
      events,
      routerRssKb,
      summary: summarizePatroni(events),
      totals: totalsOf(events),
    };
  } finally {
    stopV2Watch?.();
    await leaderWatch?.stop();
    await group.cleanup();
    await routed?.haproxy.stop();
    await haB?.stop();
    await bed?.stop();
    await cluster?.stop();
    await etcd.stop();
  }
}

function summarizePatroni(events: readonly PatroniEvent[]): PatroniPartResult['summary'] {
  const of = (kind: EventKind | 'all') => events.filter((e) => kind === 'all' || e.kind === kind);
  const listener = (name: ListenerName) =>
    Object.fromEntries(
      (['switchover', 'failover', 'all'] as const).map((k) => [
        k,
        {
          outage: summarize(of(k).map((e) => e.listeners[name].outageMs)),
          routeLag: summarize(
            of(k).flatMap((e) =>
              e.listeners[name].routeLagMs === null ? [] : [e.listeners[name].routeLagMs as number],
            ),
          ),
        },
      ]),
    ) as Record<EventKind | 'all', { outage: Summary; routeLag: Summary }>;
  return {
    A: listener('A'),
    B: listener('B'),
    P: listener('P'),
    direct: Object.fromEntries(
      (['switchover', 'failover', 'all'] as const).map((k) => [
        k,
        summarize(of(k).flatMap((e) => (e.directOutageMs === null ? [] : [e.directOutageMs]))),
      ]),
    ) as Record<EventKind | 'all', Summary>,
  };
}

function totalsOf(events: readonly PatroniEvent[]): PatroniPartResult['totals'] {
  const total = (name: ListenerName) => {
    const errors: Record<string, number> = {};
    for (const e of events)
      for (const [k, n] of Object.entries(e.listeners[name].errors)) errors[k] = (errors[k] ?? 0) + n;
    return {
      acks: events.reduce((s, e) => s + e.listeners[name].acks, 0),
      errors,
      readOnlyErrors: events.reduce((s, e) => s + e.listeners[name].readOnlyErrors, 0),
      nonHolderAcks: events.reduce((s, e) => s + e.listeners[name].nonHolderAcks, 0),
    };
  };
  return { A: total('A'), B: total('B'), P: total('P') };
}
