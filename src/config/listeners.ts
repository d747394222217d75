import type { TargetsConfig } from '../targets/index.js';

/** One problem of the whole-config pass: the key path (as zod paths are) and what is wrong. */
export interface ConfigIssue {
  readonly path: ReadonlyArray<string | number>;
  readonly message: string;
}

/** An address something listens on because of this config: the router's API, a frontend, pgcat. */
export interface Listener {
  readonly path: ReadonlyArray<string | number>;
  /** As written: `127.0.0.1:5000`, `[::1]:5000`, `*:5000`, `:5000`. */
  readonly text: string;
  readonly host: string;
  readonly port: number;
  /** Port 0 means "any free port" (only the API takes it). */
  readonly mayBeEphemeral: boolean;
}

const WILDCARDS = new Set(['', '*', '0.0.0.0', '::']);

/** `host:port` or `[v6]:port` → host (lower case, no brackets) and port; null when it is not that shape. */
export function splitHostPort(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,6})$/.exec(text);
  if (!m) return null;
  return { host: (m[1] ?? m[2] ?? '').toLowerCase(), port: Number(m[3]) };
}

/** Every listener of a router config (as the schema parsed it, before defaults are resolved further). */
export function collectListeners(apiListen: string, targets: TargetsConfig): Listener[] {
  const out: Listener[] = [];
  const add = (path: Array<string | number>, text: string, mayBeEphemeral = false) => {
    const split = splitHostPort(text);
    if (split) out.push({ path, text, ...split, mayBeEphemeral });
  };
  add(['api', 'listen'], apiListen, true);
  for (const [name, frontend] of Object.entries(targets.haproxy?.frontends ?? {})) {
    add(['targets', 'haproxy', 'frontends', name, 'primary'], frontend.primary);
    if (frontend.replicas !== undefined)
      add(['targets', 'haproxy', 'frontends', name, 'replicas'], frontend.replicas);
  }
  const general = targets.pgcat?.general;
  if (general) {
    const host = general.host.includes(':') ? `[${general.host}]` : general.host;
    add(['targets', 'pgcat', 'general'], `${host}:${general.port}`);
  }
  return out;
}

/**
 * Ports in range and no two listeners on one address. A wildcard (`*`, `0.0.0.0`, `::`, empty) takes the
 * port on every address, so it collides with any other listener on that port. HAProxy binds with
 * SO_REUSEPORT: two of its frontends on one address both start, and the kernel then spreads connections
 * between them, sending writes to the replicas' backend. That is why this is an error, not a warning.
 */
export function listenerIssues(listeners: readonly Listener[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const valid: Listener[] = [];
  for (const l of listeners) {
    const min = l.mayBeEphemeral ? 0 : 1;
    if (l.port < min || l.port > 65535) {
      issues.push({ path: l.path, message: `port ${l.port} is out of range (${min}–65535)` });
      continue;
    }
    if (l.port === 0) continue;
    const earlier = valid.find(
      (o) => o.port === l.port && (o.host === l.host || WILDCARDS.has(o.host) || WILDCARDS.has(l.host)),
    );
    if (earlier) {
      const how = earlier.host === l.host ? 'the same address as' : 'an address overlapping';
      issues.push({
        path: l.path,
        message: `${l.text} is ${how} ${earlier.path.join('.')} (${earlier.text}): two listeners cannot share an address`,
      });
      continue;
    }
    valid.push(l);
  }
  return issues;
}

/**
 * Clusters the targets name must be clusters the router follows (any name with `["*"]`); the VIP needs
 * its `cluster` when the router follows more than one scope.
 */
export function clusterIssues(clusters: readonly string[], targets: TargetsConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const isAll = clusters.includes('*');
  const follows = (scope: string, path: Array<string | number>) => {
    if (!isAll && !clusters.includes(scope))
      issues.push({
        path,
        message: `cluster ${scope} is not one the router follows (clusters: ${clusters.join(', ')})`,
      });
  };
  for (const name of Object.keys(targets.haproxy?.frontends ?? {}))
    follows(name, ['targets', 'haproxy', 'frontends', name]);
  for (const [name, db] of Object.entries(targets.pgbouncer?.databases ?? {}))
    follows(db.cluster, ['targets', 'pgbouncer', 'databases', name, 'cluster']);
  for (const [name, pool] of Object.entries(targets.pgcat?.pools ?? {}))
    follows(pool.cluster, ['targets', 'pgcat', 'pools', name, 'cluster']);
  const vip = targets.vip;
  if (vip?.cluster !== undefined) follows(vip.cluster, ['targets', 'vip', 'cluster']);
  else if (vip && (clusters.length !== 1 || isAll))
    issues.push({
      path: ['targets', 'vip', 'cluster'],
      message: `required unless the router follows exactly one named cluster (clusters: ${clusters.join(', ')})`,
    });
  return issues;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The whole-config pass on a config that failed its schema (zod skips refinements once a type is
 * wrong): the listeners and clusters that are well typed are still checked, so one run reports them
 * together with the schema's problems. Defaults are the schema's.
 */
export function looseConfigIssues(raw: unknown): ConfigIssue[] {
  if (!isRecord(raw)) return [];
  const api =
    isRecord(raw['api']) && typeof raw['api']['listen'] === 'string'
      ? raw['api']['listen']
      : '127.0.0.1:8009';
  const targets = isRecord(raw['targets']) ? raw['targets'] : {};
  const frontends: Record<string, { primary: string; replicas?: string }> = {};
  const haproxy = targets['haproxy'];
  if (isRecord(haproxy) && isRecord(haproxy['frontends'])) {
    for (const [name, f] of Object.entries(haproxy['frontends'])) {
      if (!isRecord(f) || typeof f['primary'] !== 'string') continue;
      frontends[name] = {
        primary: f['primary'],
        ...(typeof f['replicas'] === 'string' ? { replicas: f['replicas'] } : {}),
      };
    }
  }
  const pgcat = targets['pgcat'];
  const general = isRecord(pgcat) && isRecord(pgcat['general']) ? pgcat['general'] : null;
  const typed = {
    haproxy: { frontends },
    ...(general
      ? {
          pgcat: {
            general: {
              host: typeof general['host'] === 'string' ? general['host'] : '0.0.0.0',
              port: typeof general['port'] === 'number' ? general['port'] : 6432,
            },
          },
        }
      : {}),
  } as unknown as TargetsConfig;
  return listenerIssues(collectListeners(api, typed));
}
