import type { RouteServer, RouteView } from '../../route/view.js';
import type { HaproxyConfig } from './config.js';

/**
 * What templates/haproxy.cfg.hbs (or a user's template) receives. Every string in it was validated:
 * names are [A-Za-z0-9_.-], hosts are IPs or host names, binds and durations come from the schema.
 */
export interface HaproxyTemplateContext {
  generation: number;
  global: { statsSocket: string | null; stateFile: string | null; hardStopAfter: string; maxconn: number };
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

/**
 * Builds the template context from the views of the clusters that have a frontend. Pure. `retained`
 * adds servers of members whose keys expired (a killed node): they stay in the file as backups so a
 * failover never waits for a reload; they go at the next router start.
 */
export function buildContext(
  config: HaproxyConfig,
  views: ReadonlyMap<string, RouteView>,
  generation: number,
  writable: (view: RouteView) => RouteServer | null,
  retained: ReadonlyMap<string, readonly RouteServer[]> = new Map(),
): HaproxyTemplateContext {
  const isFileOnly = config.runtime_api === null;
  const clusters: HaproxyCluster[] = [];
  for (const [scope, frontend] of Object.entries(config.frontends).sort(([a], [b]) => a.localeCompare(b))) {
    const view = views.get(scope);
    const current = view?.members ?? [];
    const names0 = new Set(current.map((m) => m.name));
    const members = [...current, ...(retained.get(scope) ?? []).filter((m) => !names0.has(m.name))].sort(
      (a, b) => a.name.localeCompare(b.name),
    );
    const writer = view ? writable(view) : null;
    const names = backendNames(scope);
    const eligible = new Set(view?.replicas.map((r) => r.name) ?? []);
    clusters.push({
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
    });
  }
  return {
    generation,
    global: {
      statsSocket: config.runtime_api,
      stateFile: config.state_file,
      hardStopAfter: config.hard_stop_after,
      maxconn: config.maxconn,
    },
    timeouts: config.timeouts,
    checks: config.checks,
    clusters,
  };
}

/**
 * What a running HAProxy must be reloaded for: listeners, servers and their addresses. Roles (which
 * server is `backup`) are left out — the runtime API changes those live without a reload.
 */
export function structuralKey(context: HaproxyTemplateContext): string {
  return JSON.stringify(
    context.clusters.map((c) => [
      c.primary.bind,
      c.replicas?.bind ?? null,
      c.primary.servers.map((s) => [s.name, s.address, s.checkPort, s.checkAddr]),
    ]),
  );
}
