import pino from 'pino';
import type { RouteView } from '../../../src/route/view.js';
import type { RouteSnapshot, TargetContext } from '../../../src/targets/types.js';
import type { LiveDatabase, PauseOutcome, PgBouncerAdmin } from '../../../src/targets/pgbouncer/control.js';

/** A RouteView for tests: leader `leader` (or none) and replicas, ports from a table. */
export function view(
  scope: string,
  leader: { name: string; host?: string; port: number; isWritable?: boolean } | null,
  replicas: Array<{ name: string; host?: string; port: number }> = [],
  generation = 1,
): RouteView {
  const server = (s: { name: string; host?: string; port: number }) => ({
    name: s.name,
    host: s.host ?? '127.0.0.1',
    port: s.port,
    api: null,
  });
  return {
    scope,
    generation,
    leader: leader
      ? {
          ...server(leader),
          isWritable: leader.isWritable ?? true,
          reason: leader.isWritable === false ? 'not writable yet' : null,
          leaderRevision: generation,
          isLost: false,
          lostReason: null,
        }
      : null,
    replicas: replicas.map(server),
    members: [...(leader ? [server(leader)] : []), ...replicas.map(server)],
    ttl: 10,
    isFailsafeMode: false,
  };
}

export function snapshot(generation: number, ...views: RouteView[]): RouteSnapshot {
  return {
    generation,
    views: new Map(views.map((v) => [v.scope, v])),
    dcs: { isConnected: true, lastContactAt: Date.now() },
  };
}

export function testContext(now: () => number = Date.now): TargetContext {
  return { log: pino({ level: 'silent' }), now };
}

/**
 * An in-memory PgBouncer admin console: RELOAD loads `load()` (the file the target wrote) into the live
 * table, PAUSE/RESUME/KILL flip `paused`, and every call is recorded.
 */
export class FakePgBouncer implements PgBouncerAdmin {
  readonly calls: string[] = [];
  live = new Map<string, LiveDatabase>();
  config = new Map<string, string>([
    ['server_login_retry', '1'],
    ['query_wait_timeout', '120'],
  ]);
  /** PAUSE of these databases stalls (returns the stalled outcome). */
  stalls = new Set<string>();
  /** When true, RELOAD "succeeds" without changing anything (PgBouncer 1.18 on a bad file). */
  isReloadIgnored = false;

  constructor(
    private readonly load: () => Map<string, { host: string; port: number; dbname: string; user?: string }>,
  ) {}

  async showDatabases(): Promise<Map<string, LiveDatabase>> {
    this.calls.push('SHOW DATABASES');
    return new Map([...this.live].map(([k, v]) => [k, { ...v }]));
  }
  async showConfig(): Promise<Map<string, string>> {
    this.calls.push('SHOW CONFIG');
    return new Map(this.config);
  }
  async reload(): Promise<void> {
    this.calls.push('RELOAD');
    if (this.isReloadIgnored) return;
    const next = new Map<string, LiveDatabase>();
    for (const [name, e] of this.load()) {
      next.set(name, {
        name,
        host: e.host,
        port: e.port,
        dbname: e.dbname,
        forceUser: e.user ?? null,
        isPaused: this.live.get(name)?.isPaused ?? false,
      });
    }
    this.live = next;
  }
  async pause(db: string): Promise<PauseOutcome> {
    this.calls.push(`PAUSE ${db}`);
    if (this.stalls.has(db)) {
      this.calls.push(`RESUME ${db}`);
      return { isPaused: false, ms: 5, stalledAfterMs: 5 };
    }
    this.setPaused(db, true);
    return { isPaused: true, ms: 1 };
  }
  async resume(db: string): Promise<boolean> {
    this.calls.push(`RESUME ${db}`);
    const was = this.live.get(db)?.isPaused ?? false;
    this.setPaused(db, false);
    return was;
  }
  async kill(db: string): Promise<void> {
    this.calls.push(`KILL ${db}`);
    this.setPaused(db, true);
  }
  async close(): Promise<void> {
    this.calls.push('close');
  }
  setPaused(db: string, isPaused: boolean): void {
    const e = this.live.get(db);
    if (e) this.live.set(db, { ...e, isPaused });
  }
}
