import type { RouteServer, RouteView } from '../../route/view.js';
import type { HaproxyConfig } from './config.js';

/**
 * What templates/haproxy.cfg.hbs (or a user's template) receives. Every string in it was validated:
 * names are [A-Za-z0-9_.-], hosts are IPs or host names, binds and durations come from the schema.
 */
export interface HaproxyTemplateContext {
  generation: number;
  global: { statsSocket: string | null; stateFile: string | null; hardStopAfter: string; maxconn: number };
  retries: number;
  timeouts: HaproxyConfig['timeouts'];
  checks: HaproxyConfig['checks'];
  clusters: HaproxyCluster[];
}

export interface HaproxyCluster {
  scope: string;
  /** Writes: only the writable leader is a regular server; every other member is `backup`. */
  primary: HaproxyListener;
  /** Reads, when a replicas bind is configured: eligible replicas are regular servers. */
  replicas: HaproxyListener | null;
  /** The member writes go to, or null (the primary listener has no regular server). */
  writer: string | null;
}

export interface HaproxyListener {
  name: string;
  bind: string;
  checkPath: string;
  servers: HaproxyServer[];
}

export interface HaproxyServer {
  name: string;
  /** `host:port`, IPv6 in brackets. */
  address: string;
  /** Patroni REST port for the check, and its address when it differs from the server's. */
  checkPort: number | null;
  checkAddr: string | null;
  isBackup: boolean;
  /**
   * Rendered `disabled`: only in file-only mode (no runtime API) for a primary listener without a
   * writable leader — a freshly (re)loaded worker counts every server UP until its first check, so
   * backups alone would take writes for seconds. With the runtime API, forced health does this instead.
   */
  isDisabled: boolean;
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function toServer(s: RouteServer, isBackup: boolean, isDisabled = false): HaproxyServer {
  return {
    name: s.name,
    address: formatAddress(s.host, s.port),
    checkPort: s.api?.port ?? null,
    checkAddr: s.api && s.api.host !== s.host ? s.api.host : null,
    isBackup,
    isDisabled,
  };
}

export function backendNames(scope: string): { primary: string; replicas: string } {
  return { primary: `${scope}_primary`, replicas: `${scope}_replicas` };
}

/** Per-cluster results of {@link buildContext}, reused while the cluster's view and retained members are the same objects. */
export type ContextCache = Map<
  string,
  { view: RouteView | undefined; retained: readonly RouteServer[] | undefined; cluster: HaproxyCluster }
>;

function buildCluster(
  config: HaproxyConfig,
  scope: string,
  frontend: HaproxyConfig['frontends'][string],
  view: RouteView | undefined,
  writable: (view: RouteView) => RouteServer | null,
  retained: readonly RouteServer[],
): HaproxyCluster {
  const isFileOnly = config.runtime_api === null;
  const current = view?.members ?? [];
  const names0 = new Set(current.map((m) => m.name));
  const members = [...current, ...retained.filter((m) => !names0.has(m.name))].sort((a, b) =>
    a.name.localeCompare(b.name),
  );
  const writer = view ? writable(view) : null;
  const names = backendNames(scope);
  const eligible = new Set(view?.replicas.map((r) => r.name) ?? []);
  return {
    scope,
    writer: writer?.name ?? null,
    primary: {
      name: names.primary,
      bind: frontend.primary,
      checkPath: config.checks.primary,
      servers: members.map((m) => toServer(m, m.name !== writer?.name, isFileOnly && writer === null)),
    },
    replicas: frontend.replicas
      ? {
          name: names.replicas,
          bind: frontend.replicas,
          checkPath: config.checks.replicas,
          servers: members.map((m) => toServer(m, !eligible.has(m.name))),
        }
      : null,
  };
}

/**
 * Builds the template context from the views of the clusters that have a frontend. Pure. `retained`
 * adds servers of members whose keys expired (a killed node): they stay in the file as backups so a
 * failover never waits for a reload; they go at the next router start. With `cache`, a cluster whose
 * view and retained list are the objects of the previous call is not rebuilt (one router, 500 clusters,
 * one leader change: one cluster's work).
 */
export function buildContext(
  config: HaproxyConfig,
  views: ReadonlyMap<string, RouteView>,
  generation: number,
  writable: (view: RouteView) => RouteServer | null,
  retained: ReadonlyMap<string, readonly RouteServer[]> = new Map(),
  cache?: ContextCache,
): HaproxyTemplateContext {
  const clusters: HaproxyCluster[] = [];
  for (const scope of sortedScopes(config)) {
    const frontend = config.frontends[scope] as HaproxyConfig['frontends'][string];
    const view = views.get(scope);
    const kept = retained.get(scope);
    const hit = cache?.get(scope);
    if (hit && hit.view === view && hit.retained === kept) {
      clusters.push(hit.cluster);
      continue;
    }
    const cluster = buildCluster(config, scope, frontend, view, writable, kept ?? []);
    cache?.set(scope, { view, retained: kept, cluster });
    clusters.push(cluster);
  }
  return {
    generation,
    global: {
      statsSocket: config.runtime_api,
      stateFile: config.state_file,
      hardStopAfter: config.hard_stop_after,
      maxconn: config.maxconn,
    },
    retries: config.retries,
    timeouts: config.timeouts,
    checks: config.checks,
    clusters,
  };
}

const scopesByConfig = new WeakMap<HaproxyConfig, string[]>();

function sortedScopes(config: HaproxyConfig): string[] {
  let scopes = scopesByConfig.get(config);
  if (!scopes) {
    scopes = Object.keys(config.frontends).sort((a, b) => a.localeCompare(b));
    scopesByConfig.set(config, scopes);
  }
  return scopes;
}

/**
 * What a running HAProxy must be reloaded for: listeners, servers and their addresses. Roles (which
 * server is `backup`) are left out — the runtime API changes those live without a reload.
 */
export function structuralKey(context: HaproxyTemplateContext): string {
  return `[${context.clusters.map(clusterKey).join(',')}]`;
}

const keyByCluster = new WeakMap<HaproxyCluster, string>();

function clusterKey(c: HaproxyCluster): string {
  let key = keyByCluster.get(c);
  if (key === undefined) {
    key = JSON.stringify([
      c.primary.bind,
      c.replicas?.bind ?? null,
      c.primary.servers.map((s) => [s.name, s.address, s.checkPort, s.checkAddr]),
    ]);
    keyByCluster.set(c, key);
  }
  return key;
}
