import { connect } from 'node:net';
import type pg from 'pg';
import { lazyModule } from '../../util/lazy.js';

/** The router's PostgreSQL login for the held session (`routing.writable_probe` user, dbname, password). */
export interface PostgresLogin {
  readonly user: string;
  readonly dbname: string;
  readonly password: string | undefined;
}

/** A leader's PostgreSQL address; `id` names its leadership (a new leadership at the same address is watched anew). */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly id?: string;
}

const loadPg = lazyModule<typeof pg>('pg');

export type ProbeResult = 'up' | 'refused' | 'timeout';

/** One TCP connect to the leader's PostgreSQL port. `refused` is definitive (nothing listens there). */
export function probeTcp(endpoint: Endpoint, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port });
    const done = (result: ProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.once('connect', () => done('up'));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' ? 'refused' : 'timeout'),
    );
  });
}

/** Releases a held connection. */
export type Release = () => void;

/**
 * How a held connection ended: `wasEstablished` when it had logged in (its backend died or was ended);
 * `loginError` when the login was refused for good (wrong credentials, pg_hba, no such database).
 */
export interface HoldEnd {
  readonly wasEstablished?: boolean;
  readonly loginError?: string;
}

export type Hold = (endpoint: Endpoint, onEnd: (end: HoldEnd) => void) => Release;

/** Login refused for good: SQLSTATE class 28 (authorization, pg_hba) or 3D000 (no such database). */
function isLoginRefused(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('28') || code === '3D000');
}

/**
 * Holds one idle, logged-in session on the leader. A backend exits the moment its postmaster dies and the
 * session closes with it (6 ms after SIGKILL of the postmaster in the lab), at the same time as
 * PgBouncer's own server connections. A connection that never sent a startup packet does not: its backend
 * waits for the packet without watching the postmaster, so the login is needed.
 */
export function holdPostgres(login: PostgresLogin, connectTimeoutMs: number): Hold {
  return (endpoint, onEnd) => {
    const client = new (loadPg().Client)({
      host: endpoint.host,
      port: endpoint.port,
      user: login.user,
      password: login.password,
      database: login.dbname,
      connectionTimeoutMillis: connectTimeoutMs,
      application_name: 'switchyard-liveness',
      keepAlive: true,
    });
    let isEstablished = false;
    let isDone = false;
    const end = (result: HoldEnd) => {
      if (isDone) return;
      isDone = true;
      onEnd(result);
    };
    client.on('error', () => undefined);
    client.on('end', () => end({ wasEstablished: isEstablished }));
    client.connect().then(
      () => {
        isEstablished = true;
      },
      (err: NodeJS.ErrnoException) =>
        end(!isEstablished && isLoginRefused(err.code) ? { loginError: err.message } : {}),
    );
    return () => {
      isDone = true;
      void client.end().catch(() => undefined);
    };
  };
}

export interface LivenessSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive timeouts before the leader counts as lost (a refused connect counts at once). */
  readonly failures: number;
}

interface Watched {
  endpoint: Endpoint;
  failures: number;
  isLost: boolean;
  /** Why it counts as lost (a sentence for /status). */
  lostReason: string | null;
  release: Release | null;
  /** Earliest time of the next hold. */
  holdAfter: number;
  /** Why this leader cannot be held (login refused): not retried until the leader changes. */
  holdError: string | null;
}

/** Shortest time between two held connections to one leader (a port that accepts and closes at once). */
const REHOLD_MIN_MS = 1000;

/**
 * Watches the PostgreSQL port of each cluster's routed leader. The leader key outlives a dead primary by up
 * to the cluster's ttl; during that time PgBouncer would hand clients connection errors. A leader whose port
 * refuses connections (or times out `failures` times in a row) is reported lost, so its databases are paused
 * and clients wait for the new leader instead; it is reported back when it answers again.
 *
 * Probing alone finds a dead primary up to one interval late, and PgBouncer fails every client statement
 * that arrives after its own first refused connect (`check_fast_fail`) until the PAUSE lands. So a session
 * on each leader is also held open (`hold`): when the primary's processes die it closes, the leader counts
 * as lost at once and is probed to confirm (a port that still answers brings it back).
 */
export class LeaderLiveness {
  private readonly watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | null = null;
  private isProbing = false;

  constructor(
    private readonly settings: LivenessSettings,
    /** Called when a cluster's leader is lost or back; the target re-applies. */
    private readonly onChange: (cluster: string) => void,
    private readonly onHoldError: (cluster: string, endpoint: Endpoint, message: string) => void,
    private readonly probe: (endpoint: Endpoint, timeoutMs: number) => Promise<ProbeResult> = probeTcp,
    private readonly hold: Hold | null = null,
  ) {}

  /** The leaders to watch now (cluster → writable leader); others are dropped. */
  watch(leaders: ReadonlyMap<string, Endpoint | null | undefined>): void {
    for (const [cluster, endpoint] of leaders) {
      const current = this.watched.get(cluster);
      if (!endpoint) {
        if (endpoint === null) this.unwatch(cluster);
        continue;
      }
      if (current && isSameEndpoint(current.endpoint, endpoint)) continue;
      this.unwatch(cluster);
      const w: Watched = {
        endpoint,
        failures: 0,
        isLost: false,
        lostReason: null,
        release: null,
        holdAfter: 0,
        holdError: null,
      };
      this.watched.set(cluster, w);
      this.startHold(cluster, w);
    }
    if (!this.timer && this.watched.size > 0) {
      this.timer = setInterval(() => void this.probeAll(), this.settings.intervalMs);
      this.timer.unref();
    }
    this.stopTimerWhenIdle();
  }

  /** Stops watching one cluster (its leader is gone, or the cluster is). */
  forget(cluster: string): void {
    this.unwatch(cluster);
    this.stopTimerWhenIdle();
  }

  private stopTimerWhenIdle(): void {
    if (this.watched.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  /** True when the cluster's leader at `endpoint` is currently considered dead. */
  isLost(cluster: string, endpoint: Endpoint): boolean {
    return this.lostReason(cluster, endpoint) !== null;
  }

  /** Why the cluster's leader at `endpoint` counts as dead; null while it does not (or is not watched). */
  lostReason(cluster: string, endpoint: Endpoint): string | null {
    const w = this.watched.get(cluster);
    return w !== undefined && w.isLost && isSameEndpoint(w.endpoint, endpoint) ? w.lostReason : null;
  }

  /** One round of probes (also called by the timer); bounded by the probe timeout. */
  async probeAll(): Promise<void> {
    if (this.isProbing) return;
    this.isProbing = true;
    try {
      await Promise.all([...this.watched].map(([cluster, w]) => this.probeOne(cluster, w)));
    } finally {
      this.isProbing = false;
    }
  }

  private async probeOne(cluster: string, w: Watched): Promise<void> {
    const result = await this.probe(w.endpoint, this.settings.timeoutMs);
    if (this.watched.get(cluster) !== w) return;
    w.failures = result === 'up' ? 0 : w.failures + 1;
    const isLost = result === 'refused' || w.failures >= this.settings.failures;
    const at = `${w.endpoint.host}:${w.endpoint.port}`;
    const reason =
      result === 'refused'
        ? `${at} refused a connection`
        : `${w.failures} connects to ${at} in a row got no answer within ${this.settings.timeoutMs} ms`;
    if (isLost !== w.isLost) {
      w.isLost = isLost;
      w.lostReason = isLost ? reason : null;
      this.onChange(cluster);
    }
    if (!w.isLost) this.startHold(cluster, w);
  }

  /**
   * Holds a connection to a live leader; when it closes, probe at once. A port that accepts and closes at
   * once must not become a connect loop: a new hold starts no sooner than REHOLD_MIN_MS after the last one,
   * from a later probe (the interval probe keeps running meanwhile).
   */
  private startHold(cluster: string, w: Watched): void {
    if (!this.hold || w.release || w.isLost || w.holdError || Date.now() < w.holdAfter) return;
    w.holdAfter = Date.now() + REHOLD_MIN_MS;
    w.release = this.hold(w.endpoint, (end) => {
      w.release = null;
      if (this.watched.get(cluster) !== w) return;
      if (end.loginError) {
        w.holdError = end.loginError;
        this.onHoldError(cluster, w.endpoint, end.loginError);
        return;
      }
      // A logged-in session that ends is the primary dying far more often than not, and every millisecond
      // before the PAUSE lets PgBouncer fail clients: report the leader lost at once, then probe. If the
      // port still answers (idle_session_timeout, pg_terminate_backend) it is reported back and resumed.
      if (end.wasEstablished && !w.isLost) {
        w.isLost = true;
        w.lostReason = `the session held on ${w.endpoint.host}:${w.endpoint.port} ended`;
        this.onChange(cluster);
      }
      void this.probeOne(cluster, w);
    });
  }

  /** Leaders that cannot be held, as sentences for /status. */
  holdProblems(): string[] {
    return [...this.watched.keys()].flatMap((cluster) => this.holdProblem(cluster) ?? []);
  }

  /** Why the cluster's leader cannot be held, as a sentence for /status; null when it can. */
  holdProblem(cluster: string): string | null {
    const w = this.watched.get(cluster);
    if (!w?.holdError) return null;
    return `leader_health.hold cannot log in to the leader of ${cluster} at ${w.endpoint.host}:${w.endpoint.port} (${w.holdError}): a dead primary is found by the probe only (routing.writable_probe user/dbname/password are used)`;
  }

  private unwatch(cluster: string): void {
    this.watched.get(cluster)?.release?.();
    this.watched.delete(cluster);
  }

  /** No cluster watched and no timer left (for tests of the life cycle). */
  get isIdle(): boolean {
    return this.watched.size === 0 && this.timer === null;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const cluster of [...this.watched.keys()]) this.unwatch(cluster);
  }
}

function isSameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.host === b.host && a.port === b.port && a.id === b.id;
}
