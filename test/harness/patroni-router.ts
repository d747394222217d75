/**
 * The "Patroni cluster + router + HAProxy" lab shared by the integration tests and the benches: the
 * leader-key timeline as the test sees it, and a router process that renders HAProxy's file with HAProxy
 * started on it.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { Etcd3, type Watcher } from 'etcd3';
import {
  ProcessGroup,
  LAB_HAPROXY_SETTINGS,
  freePort,
  haproxyTargetFiles,
  startEtcd,
  startHaproxy,
  startPatroniCluster,
  waitFor,
} from './index.js';
import type { EtcdCluster, HaproxyInstance, PatroniCluster } from './index.js';
import { routerStatus, startRouterProcess, waitApplied, type RouterLaunch } from './router.js';
import type { HolderSpan } from './writer.js';

/** Who held the leader key when: one span per holder (`null` while the key is absent). */
export class LeaderTimeline {
  readonly spans: HolderSpan[] = [];
  record(name: string | null): void {
    const now = Date.now();
    const last = this.spans.at(-1);
    if (last?.name === name) return;
    if (last) last.to = now;
    this.spans.push({ name, from: now, to: Number.MAX_SAFE_INTEGER });
  }
  holder(): string | null {
    return this.spans.at(-1)?.name ?? null;
  }
}

/** Follows `/service/<scope>/leader` with the test's own etcd v3 watch (not the code under test). */
export async function watchLeaderV3(
  clientUrls: string[],
  scope: string,
  timeline = new LeaderTimeline(),
): Promise<{ timeline: LeaderTimeline; stop: () => Promise<void> }> {
  const client = new Etcd3({ hosts: clientUrls });
  const key = `/service/${scope}/leader`;
  timeline.record((await client.get(key).string()) ?? null);
  const watcher: Watcher = await client.watch().key(key).create();
  watcher.on('put', (kv) => timeline.record(kv.value.toString()));
  watcher.on('delete', () => timeline.record(null));
  return {
    timeline,
    // Cancel before closing: a watcher left on a closed client keeps reconnecting and the process never exits.
    stop: async () => {
      await watcher.cancel().catch(() => undefined);
      client.close();
    },
  };
}

export interface RoutedHaproxy {
  router: Awaited<ReturnType<typeof startRouterProcess>>;
  routerConfig: Record<string, unknown>;
  haproxy: HaproxyInstance;
  primaryPort: number;
}

/** What {@link startRoutedHaproxy} starts: the lab's router and HAProxy unless told otherwise. */
export interface RoutedHaproxyOptions {
  dcs: Record<string, unknown>;
  cluster: string;
  routing?: Record<string, unknown>;
  /** The router process's name (default `router`). */
  name?: string;
  /** Suffix of the HAProxy files in the group's dir ({@link haproxyTargetFiles}; default none). */
  suffix?: string;
  /** HAProxy target settings in place of {@link LAB_HAPROXY_SETTINGS} (`{}`: the router's defaults). */
  haproxy?: Record<string, unknown>;
  /** The router's other targets, beside HAProxy. */
  targets?: Record<string, unknown>;
  /** How the router is launched (a compiled build for the benches). */
  launch?: RouterLaunch;
  /** How long the router may take to see a writable leader (default 20 s). */
  writableTimeoutMs?: number;
}

/**
 * Starts a router process over `dcs` with one HAProxy target, waits until it sees a writable leader and
 * wrote the file, starts HAProxy on that file (the router's reload fails until HAProxy runs) and waits
 * until every target applied.
 */
export async function startRoutedHaproxy(
  group: ProcessGroup,
  opts: RoutedHaproxyOptions,
): Promise<RoutedHaproxy> {
  const primaryPort = await freePort();
  const name = opts.name ?? 'router';
  const files = haproxyTargetFiles(group.dir, opts.suffix);
  const routerConfig = {
    dcs: opts.dcs,
    clusters: [opts.cluster],
    ...(opts.routing ? { routing: opts.routing } : {}),
    targets: {
      haproxy: {
        ...files,
        ...(opts.haproxy ?? LAB_HAPROXY_SETTINGS),
        frontends: { [opts.cluster]: { primary: `127.0.0.1:${primaryPort}` } },
      },
      ...opts.targets,
    },
  };
  const router = await startRouterProcess(group, name, routerConfig, opts.launch);
  await waitFor(async () => (await routerStatus(router.api)).clusters[opts.cluster]?.writable === true, {
    what: `router ${name} sees a writable leader (${String(opts.dcs['type'])})`,
    timeoutMs: opts.writableTimeoutMs ?? 20_000,
    diagnose: () => group.logTail(name),
  });
  const configPath = files['output'] as string;
  await waitFor(() => existsSync(configPath), {
    what: `router ${name} wrote ${configPath}`,
    timeoutMs: 15_000,
    diagnose: () => group.logTail(name),
  });
  const haproxy = await startHaproxy({ configPath });
  writeFileSync(`${group.dir}/haproxy${opts.suffix ?? ''}.pid`, String(haproxy.pid));
  await waitApplied(router.api, 15_000);
  return { router, routerConfig, haproxy, primaryPort };
}

/** A real Patroni cluster on a real etcd, with a router process and the HAProxy it manages. */
export interface PatroniRouterLab extends RoutedHaproxy {
  group: ProcessGroup;
  etcd: EtcdCluster;
  cluster: PatroniCluster;
  /** PostgreSQL port → member name. */
  portToName: Map<number, string>;
  /** Stops everything the lab started (safe to call after a failed start). */
  stop(): Promise<void>;
}

/**
 * Starts etcd, a 3-node Patroni cluster of scope `app` (on etcd's v2 API when `dcsApi` is `etcd`), waits
 * for it to be healthy, runs `beforeRouter` (the test's own watches and checks), then the router and
 * HAProxy of {@link startRoutedHaproxy}.
 */
export async function startPatroniRouterLab(opts: {
  name: string;
  dcsApi?: 'etcd';
  routing?: Record<string, unknown>;
  beforeRouter?: (lab: { etcd: EtcdCluster; cluster: PatroniCluster }) => Promise<void>;
}): Promise<PatroniRouterLab> {
  const group = ProcessGroup.create(opts.name);
  let etcd: EtcdCluster | undefined;
  let cluster: PatroniCluster | undefined;
  let routed: RoutedHaproxy | undefined;
  const stop = async () => {
    await group.cleanup();
    await routed?.haproxy.stop();
    await cluster?.stop();
    await etcd?.stop();
  };
  try {
    etcd = await startEtcd(opts.dcsApi === 'etcd' ? { enableV2: true } : {});
    cluster = await startPatroniCluster({
      scope: 'app',
      nodes: 3,
      etcd,
      ...(opts.dcsApi ? { dcsApi: opts.dcsApi } : {}),
    });
    const portToName = new Map(cluster.nodes.map((n) => [n.pgPort, n.name]));
    await cluster.waitForHealthy();
    await opts.beforeRouter?.({ etcd, cluster });
    routed = await startRoutedHaproxy(group, {
      dcs: { type: opts.dcsApi === 'etcd' ? 'etcd' : 'etcd3', hosts: etcd.endpoints },
      cluster: 'app',
      ...(opts.routing ? { routing: opts.routing } : {}),
    });
    return { ...routed, group, etcd, cluster, portToName, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
