import { writer, type RouteView } from '../../route/view.js';
import type { PgcatConfig } from './config.js';
import type { PgcatServer } from './render.js';

/** The servers every pool should have, or the pools that must wait. */
export interface PoolPlan {
  /** Pool → its servers, the primary first. */
  readonly servers: ReadonlyMap<string, readonly PgcatServer[]>;
  readonly primaries: ReadonlyMap<string, PgcatServer>;
  /** Pools with neither a writable leader nor a primary in the live file: pgcat.toml stays untouched. */
  readonly waiting: readonly string[];
}

/**
 * Each pool's `"primary"` is its cluster's writable leader; without one, the primary the live file names
 * (`kept`) stays. Eligible replicas join as `"replica"` when the pool asks for them. Pure.
 */
export function planPools(
  pools: PgcatConfig['pools'],
  views: ReadonlyMap<string, RouteView>,
  kept: ReadonlyMap<string, PgcatServer>,
): PoolPlan {
  const servers = new Map<string, PgcatServer[]>();
  const primaries = new Map<string, PgcatServer>();
  const waiting: string[] = [];
  for (const [name, pool] of Object.entries(pools)) {
    const view = views.get(pool.cluster);
    const w = view ? writer(view) : null;
    const primary: PgcatServer | null = w
      ? { member: w.name, host: w.host, port: w.port, role: 'primary' }
      : (kept.get(name) ?? null);
    if (!primary) {
      waiting.push(name);
      continue;
    }
    const replicas: PgcatServer[] =
      pool.replicas && view
        ? view.replicas
            .filter((r) => r.host !== primary.host || r.port !== primary.port)
            .map((r) => ({ member: r.name, host: r.host, port: r.port, role: 'replica' as const }))
        : [];
    primaries.set(name, primary);
    servers.set(name, [primary, ...replicas]);
  }
  return { servers, primaries, waiting };
}
