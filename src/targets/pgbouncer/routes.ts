import { writer, type RouteView } from '../../route/view.js';
import type { PgBouncerConfig } from './config.js';
import type { LiveDatabase } from './control.js';
import type { ClusterRoute, Endpoint, EntryInfo } from './render.js';

/**
 * Pure decisions of the PgBouncer target: which clusters are fenced (their write databases paused) and
 * where each cluster's entries point. `want` per cluster: an endpoint (writable leader), null (no writable
 * leader: fence) or undefined (the cluster is not in the snapshot: leave it as it is).
 */
export type Wants = ReadonlyMap<string, Endpoint | null | undefined>;

export function clustersOf(config: Pick<PgBouncerConfig, 'databases'>): string[] {
  return [...new Set(Object.values(config.databases).map((d) => d.cluster))];
}

/** Write databases (the leader entries) of a cluster, in config order. */
export function writeDatabases(config: Pick<PgBouncerConfig, 'databases'>, cluster: string): string[] {
  return Object.entries(config.databases)
    .filter(([, d]) => d.cluster === cluster)
    .map(([name]) => name);
}

export function wantedWriters(
  config: Pick<PgBouncerConfig, 'databases'>,
  views: ReadonlyMap<string, RouteView>,
): Wants {
  const wants = new Map<string, Endpoint | null | undefined>();
  for (const cluster of clustersOf(config)) {
    const view = views.get(cluster);
    const w = view ? writer(view) : null;
    wants.set(
      cluster,
      view === undefined ? undefined : w ? { member: w.name, host: w.host, port: w.port } : null,
    );
  }
  return wants;
}

export function isRoutedTo(live: LiveDatabase | undefined, endpoint: Endpoint, dbname: string): boolean {
  return (
    live !== undefined && live.host === endpoint.host && live.port === endpoint.port && live.dbname === dbname
  );
}

/** The live entry is what was rendered: routing plus the forced user (SHOW DATABASES `force_user`). */
export function isApplied(live: LiveDatabase | undefined, entry: EntryInfo): boolean {
  return isRoutedTo(live, entry.endpoint, entry.dbname) && (live?.forceUser ?? null) === entry.user;
}

/**
 * Clusters to fence now: no writable leader, or a writable leader other than where the live write entries
 * point (the holder changed). Fencing first means in-flight transactions finish (or fail) on the old
 * primary before any client is let through to the new one.
 */
export function clustersToFence(
  config: Pick<PgBouncerConfig, 'databases'>,
  wants: Wants,
  live: ReadonlyMap<string, LiveDatabase>,
): string[] {
  return clustersOf(config).filter((cluster) => {
    const want = wants.get(cluster);
    if (want === undefined) return false;
    const dbs = writeDatabases(config, cluster).filter((d) => live.has(d));
    if (dbs.length === 0) return false;
    if (want === null) return true;
    return dbs.some((d) => !isRoutedTo(live.get(d), want, config.databases[d]?.dbname ?? d));
  });
}

function liveEndpoint(live: LiveDatabase | undefined): Endpoint | null {
  if (!live || live.host === null || live.port === null) return null;
  return { member: null, host: live.host, port: live.port };
}

/**
 * Routes to render. A cluster with a writable leader routes to it; one without keeps what PgBouncer runs
 * now (never a guess). The reader stays on the replica it uses while that one is still eligible.
 */
export function routesToRender(
  config: Pick<PgBouncerConfig, 'databases'>,
  wants: Wants,
  views: ReadonlyMap<string, RouteView>,
  live: ReadonlyMap<string, LiveDatabase>,
): Map<string, ClusterRoute> {
  const routes = new Map<string, ClusterRoute>();
  for (const cluster of clustersOf(config)) {
    const names = writeDatabases(config, cluster);
    const roNames = names
      .map((n) => config.databases[n]?.read_only?.name)
      .filter((n): n is string => n !== undefined);
    const want = wants.get(cluster);
    const keptWriter = names.map((n) => liveEndpoint(live.get(n))).find((e) => e !== null) ?? null;
    const keptReader = roNames.map((n) => liveEndpoint(live.get(n))).find((e) => e !== null) ?? null;
    const view = views.get(cluster);
    if (!view || want === undefined) {
      routes.set(cluster, { writer: keptWriter, reader: keptReader });
      continue;
    }
    const replicas = view.replicas.map((r) => ({ member: r.name, host: r.host, port: r.port }));
    const current = replicas.find(
      (r) => keptReader && r.host === keptReader.host && r.port === keptReader.port,
    );
    routes.set(cluster, { writer: want ?? keptWriter, reader: current ?? replicas[0] ?? null });
  }
  return routes;
}

/** Every configured PgBouncer database (write and read-only entries) → its cluster. */
export function clusterOfDatabase(config: Pick<PgBouncerConfig, 'databases'>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, db] of Object.entries(config.databases)) {
    out.set(name, db.cluster);
    if (db.read_only) out.set(db.read_only.name, db.cluster);
  }
  return out;
}

/**
 * Why a database paused by someone else (a dead router, a dead switchover, an operator) is resumed now,
 * or null to leave it. Never while a live switchover's marker holds it (checked by the caller).
 */
export function foreignResumeReason(o: {
  readonly isFresh: boolean;
  readonly isInMarker: boolean;
  readonly pausedForMs: number;
  readonly maxPauseMs: number;
}): string | null {
  if (o.isFresh) return 'found paused at start';
  if (o.isInMarker) return 'its switchover is gone';
  if (o.pausedForMs >= o.maxPauseMs) return `paused by someone else for ${o.pausedForMs} ms`;
  return null;
}
