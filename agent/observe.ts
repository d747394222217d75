import type { ClusterState } from '../src/cluster/index.js';
import type { ClusterWriter } from '../src/dcs/cluster-writer.js';
import { monotonicMs } from '../src/dcs/lease.js';
import type { AgentConfig } from './config/load.js';
import type { LocalPostgres } from './ha/types.js';
import type { PgControl } from './postgres/control.js';
import type { PgQuery, RunningStatus } from './postgres/query.js';
import { COMPAT_VERSION } from './api/view.js';
import { DRAIN_TAG } from '../src/dcs/drain.js';

export interface Observation {
  readonly local: LocalPostgres;
  readonly status: RunningStatus | null;
}

function memberAt(
  cluster: ClusterState | null,
  target: { host: string; port: number } | null,
): string | null {
  if (!cluster || !target) return null;
  for (const m of cluster.members.values())
    if (m.host === target.host && m.port === target.port) return m.name;
  return null;
}

/** One look at the local PostgreSQL: query it when the postmaster is alive, else read pg_controldata. */
export async function observePostgres(
  control: PgControl,
  query: PgQuery,
  cluster: ClusterState | null,
  stateOverride: string | null,
): Promise<Observation> {
  const base = {
    isDataDirEmpty: false,
    followingMember: null,
    replication: [],
    synchronousStandbyNames: '',
    notStreamingMs: 0,
  };
  if (control.isDataDirEmpty()) {
    return {
      status: null,
      local: {
        ...base,
        state: stateOverride ?? 'stopped',
        isRunning: false,
        isDataDirEmpty: true,
        isInRecovery: null,
        wasPrimary: false,
        timeline: null,
        walPosition: null,
        systemId: null,
      },
    };
  }
  if (control.isRunning()) {
    try {
      const st = await query.status();
      return {
        status: st,
        local: {
          ...base,
          state: stateOverride ?? 'running',
          isRunning: true,
          isInRecovery: st.isInRecovery,
          wasPrimary: !st.isInRecovery,
          timeline: st.isInRecovery
            ? Math.max(st.timeline ?? 0, control.latestHistoryTimeline()) || null
            : st.timeline,
          walPosition: st.isInRecovery ? Math.max(st.receiveLsn ?? 0, st.replayLsn ?? 0) : st.flushLsn,
          systemId: st.systemId,
          followingMember: st.isInRecovery ? memberAt(cluster, st.primaryConninfo) : null,
          replication: st.replication,
          synchronousStandbyNames: st.synchronousStandbyNames,
        },
      };
    } catch {
      // The postmaster is up but does not answer (starting, recovering, or shutting down).
    }
  }
  const cd = await control.controlData();
  const stateText = cd?.state ?? 'unknown';
  const isRunning = control.isRunning();
  return {
    status: null,
    local: {
      ...base,
      state:
        stateOverride ?? (isRunning ? 'starting' : stateText === 'in production' ? 'crashed' : 'stopped'),
      isRunning,
      isInRecovery: null,
      wasPrimary:
        (stateText === 'shut down' || stateText === 'in production') && !control.isStandbyConfigured(),
      // The control file's timeline, not the newest history file: a stopped node's divergence is judged
      // from where its WAL really is (see needsRewind).
      timeline: cd?.timeline ?? null,
      walPosition: cd?.walPosition ?? null,
      systemId: cd?.systemId ?? null,
    },
  };
}

/** Patroni 4's replication state of a standby: `streaming` or `in archive recovery`; null on a primary. */
export function replicationState(st: RunningStatus | null): string | null {
  if (!st || !st.isInRecovery) return null;
  return st.walReceiverStreaming ? 'streaming' : 'in archive recovery';
}

/** How long a running standby has gone without streaming (a stalled follower is rejoined, see decide). */
export class StallClock {
  #since: number | null = null;

  constructor(private readonly now: () => number = monotonicMs) {}

  /** `obs` with `notStreamingMs` filled in (0 while streaming, not a standby, or during a task). */
  measure(obs: Observation, isTaskRunning: boolean): Observation {
    const stalled = obs.status?.isInRecovery === true && !obs.status.walReceiverStreaming && !isTaskRunning;
    if (!stalled) this.#since = null;
    else this.#since ??= this.now();
    const notStreamingMs = this.#since === null ? 0 : this.now() - this.#since;
    return { ...obs, local: { ...obs.local, notStreamingMs } };
  }
}

/** The member key value, in Patroni 3.0.2's `touch_member` field order (+ 4.0's `replication_state`). */
export function memberValue(
  config: AgentConfig,
  obs: Observation,
  isPaused: boolean,
): Record<string, unknown> {
  const pg = obs.local;
  const role = pg.isDataDirEmpty
    ? 'uninitialized'
    : pg.isRunning && pg.isInRecovery === false
      ? 'master'
      : 'replica';
  const value: Record<string, unknown> = {
    conn_url: `postgres://${config.postgresql.connectHost}:${config.postgresql.connectPort}/${config.postgresql.database}`,
    api_url: `${config.restapi.tls ? 'https' : 'http'}://${config.restapi.connectAddress}/patroni`,
    state: pg.state,
    role,
    version: COMPAT_VERSION,
  };
  // The agent always takes part in `switchyard switchover`'s stop handshake (see handOver).
  value['tags'] = { ...config.tags, [DRAIN_TAG]: true };
  if (['running', 'restarting', 'starting'].includes(pg.state) && pg.walPosition !== null) {
    value['xlog_location'] = pg.walPosition;
    // Patroni 4's `replication_state`, in its field order (patronictl 4 shows it as the State column).
    const replication = replicationState(obs.status);
    if (replication) value['replication_state'] = replication;
    if (pg.timeline !== null) value['timeline'] = pg.timeline;
  }
  if (isPaused) value['pause'] = true;
  return value;
}

/**
 * Right after a confirmed promotion: observe PostgreSQL again and publish the member key with the new
 * role at once, not at the end of the cycle (whose observation predates the promotion) or in the next
 * one, so routers that watch the member keys see the primary 30–100 ms sooner. Returns the observation
 * (the loop's own: no task runs); throws when it could not publish (the cycle's own publish follows).
 */
export async function publishPromotion(
  a: {
    readonly config: AgentConfig;
    readonly control: PgControl;
    readonly query: PgQuery;
    readonly writer: Pick<ClusterWriter, 'touchMember'>;
  },
  cluster: ClusterState,
  leaseId: string,
): Promise<Observation> {
  const obs = await observePostgres(a.control, a.query, cluster, null);
  await a.writer.touchMember(
    a.config.name,
    memberValue(a.config, obs, cluster.config.isPaused === true),
    leaseId,
  );
  return obs;
}
