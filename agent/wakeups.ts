import pg from 'pg';
import type { ClusterState } from '../src/cluster/index.js';
import { monotonicMs } from '../src/dcs/lease.js';
import type { AgentConfig } from './config/load.js';
import { failoverCandidate } from './ha/manual.js';
import type { LocalPostgres } from './ha/types.js';

/**
 * One idle connection to the local PostgreSQL whose end is the signal: when the postmaster dies (kill -9,
 * crash) its backends exit at once and the socket closes, so the agent wakes within milliseconds instead
 * of at the next loop_wait. Reconnected by `ensure` on the next cycle that sees PostgreSQL running.
 */
export class PostmasterSentinel {
  #client: pg.Client | null = null;
  #isClosed = false;

  constructor(
    private readonly config: AgentConfig,
    private readonly onEnd: () => void,
  ) {}

  /** Connects when PostgreSQL runs and no sentinel is connected (or connecting). */
  ensure(isRunning: boolean): void {
    if (this.#isClosed || this.#client || !isRunning) return;
    const pgc = this.config.postgresql;
    const first = pgc.listenAddresses.split(',')[0]?.trim() ?? '127.0.0.1';
    const host =
      first === '*' || first === '0.0.0.0' || first === '' ? '127.0.0.1' : first === '::' ? '::1' : first;
    const client = new pg.Client({
      host,
      port: pgc.port,
      user: pgc.superuser.username,
      password: pgc.superuser.password,
      database: pgc.database,
      connectionTimeoutMillis: 2000,
      application_name: 'switchyard-agent-sentinel',
    });
    this.#client = client;
    let isUp = false;
    const ended = () => {
      if (this.#client !== client) return;
      this.#client = null;
      if (isUp && !this.#isClosed) this.onEnd();
    };
    client.on('error', ended);
    client.on('end', ended);
    client.connect().then(
      () => {
        isUp = true;
      },
      () => ended(),
    );
  }

  async close(): Promise<void> {
    this.#isClosed = true;
    const c = this.#client;
    this.#client = null;
    await c?.end().catch(() => undefined);
  }
}

/**
 * The second wake-up signal of a switchover candidate (the first is the leader key's watch event): while a
 * `/failover` key asks the leader to step down and this replica may be the one to take over, the loop runs
 * every `intervalMs` instead of every loop_wait, for at most max(5 s, 2 × loop_wait) after the request was first seen.
 */
export class HandoverWatch {
  #since: number | null = null;

  constructor(
    private readonly intervalMs = 100,
    private readonly now: () => number = monotonicMs,
  ) {}

  /** The sleep before the next cycle; Infinity when no handover to this node may be pending. */
  sleepMs(cluster: ClusterState | null, pgState: LocalPostgres | null, name: string): number {
    const f = cluster?.failover ?? null;
    const candidate = f ? failoverCandidate(f) : null;
    const scheduled = f?.scheduled_at ? Date.parse(f.scheduled_at) : NaN;
    const isPending =
      cluster !== null &&
      f !== null &&
      cluster.leader !== null &&
      cluster.leader.name !== name &&
      !(scheduled > Date.now() + cluster.config.loopWait * 1000) &&
      (candidate === null || candidate === name) &&
      pgState?.isRunning === true &&
      pgState.isInRecovery === true &&
      (cluster.config.synchronousMode !== true || (cluster.sync?.standbys ?? []).includes(name));
    if (!isPending) {
      this.#since = null;
      return Infinity;
    }
    this.#since ??= this.now();
    const maxMs = Math.max(5000, cluster.config.loopWait * 2000);
    return this.now() - this.#since <= maxMs ? this.intervalMs : Infinity;
  }
}

/** How long this leader's PostgreSQL has been down (the crash policy's clock); a task in progress keeps it. */
export class DownClock {
  #since: number | null = null;

  constructor(private readonly now: () => number = monotonicMs) {}

  note(isLeaderAndDown: boolean, isTaskRunning: boolean): void {
    if (!isLeaderAndDown) this.#since = null;
    else if (!isTaskRunning) this.#since ??= this.now();
  }

  ms(): number {
    return this.#since === null ? 0 : this.now() - this.#since;
  }
}

/**
 * Leader keys whose watch events are dropped, from `SWITCHYARD_AGENT_FAULT_DROP_WATCH` (comma-separated
 * relative keys, e.g. `leader`). A fault-injection switch for tests that prove the agent does not depend on
 * one watch event; empty unless set.
 */
export function droppedWatchKeys(env: NodeJS.ProcessEnv = process.env): ReadonlySet<string> {
  const raw = env['SWITCHYARD_AGENT_FAULT_DROP_WATCH'] ?? '';
  return new Set(
    raw
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k.length > 0),
  );
}
