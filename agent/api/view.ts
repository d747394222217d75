import type { ClusterState } from '../../src/cluster/index.js';
import type { RunningStatus } from '../postgres/query.js';

/** Patroni version whose wire formats the agent speaks (member `version`, REST `patroni.version`). */
export const COMPAT_VERSION = '3.0.2';

/** What the REST API sees of the agent at the moment of a request. Times: ms since epoch. */
export interface NodeView {
  readonly name: string;
  readonly scope: string;
  /** PostgresqlState string. */
  readonly pgState: string;
  /** Last query result, null when PostgreSQL is not running or did not answer. */
  readonly pg: RunningStatus | null;
  /** Holds the leader key and its lease is certainly alive now. */
  readonly isLeader: boolean;
  /** Last cluster read (may be stale when etcd is down; see dcsLastSeen). */
  readonly cluster: ClusterState | null;
  readonly isDcsReachable: boolean;
  readonly dcsLastSeen: number;
  readonly tags: Readonly<Record<string, unknown>>;
  readonly isFailsafeActive: boolean;
  /** When the HA loop last completed a cycle. */
  readonly lastCycleAt: number;
  readonly lastSentence: string;
  readonly now: number;
}

/** A NodeView of `a` with `obs` as the PostgreSQL part (the HA loop's observation, or a REST request's own). */
export function nodeView(
  a: {
    readonly config: {
      readonly name: string;
      readonly scope: string;
      readonly tags: Record<string, unknown>;
    };
    readonly cluster: ClusterState | null;
    readonly isDcsReachable: boolean;
    readonly dcsLastSeen: number;
    readonly lastCycleAt: number;
    readonly lastSentence: string;
  },
  obs: { readonly local: { readonly state: string }; readonly status: RunningStatus | null } | null,
  live: { readonly isLeader: boolean; readonly isFailsafeActive: boolean },
): NodeView {
  return {
    name: a.config.name,
    scope: a.config.scope,
    pgState: obs?.local.state ?? 'unknown',
    pg: obs?.status ?? null,
    ...live,
    cluster: a.cluster,
    isDcsReachable: a.isDcsReachable,
    dcsLastSeen: a.dcsLastSeen,
    tags: a.config.tags,
    lastCycleAt: a.lastCycleAt,
    lastSentence: a.lastSentence,
    now: Date.now(),
  };
}

export const isPaused = (v: NodeView) => v.cluster?.config.isPaused === true;

export function isSyncStandby(v: NodeView): boolean {
  const sync = v.cluster?.sync;
  if (!sync || v.cluster?.config.synchronousMode !== true) return false;
  return sync.standbys.some((s) => s.toLowerCase() === v.name.toLowerCase());
}

/** Python's `str(datetime)` with a UTC offset: `2026-11-22 15:23:39.386366+00:00`. */
export function pythonTimestamp(pgText: string): string {
  return /[+-]\d\d$/.test(pgText) ? `${pgText}:00` : pgText;
}

/** The status document of `GET /patroni` and every health path (reference §2.2, 3.0.2 layout + `name`). */
export function statusDocument(v: NodeView): Record<string, unknown> {
  const doc: Record<string, unknown> = { state: v.pgState };
  const pg = v.pg;
  if (pg) {
    doc['postmaster_start_time'] = pythonTimestamp(pg.postmasterStartTime);
    doc['role'] = pg.isInRecovery ? 'replica' : 'master';
    doc['server_version'] = pg.serverVersion;
    if (pg.isInRecovery) {
      doc['xlog'] = {
        received_location: pg.receiveLsn ?? pg.replayLsn ?? 0,
        replayed_location: pg.replayLsn ?? 0,
        replayed_timestamp: pg.replayedTimestamp ? pythonTimestamp(pg.replayedTimestamp) : null,
        paused: pg.isReplayPaused,
      };
      if (isSyncStandby(v)) doc['sync_standby'] = true;
    } else {
      doc['xlog'] = { location: pg.flushLsn ?? 0 };
    }
    if (pg.timeline !== null) doc['timeline'] = pg.timeline;
    if (!pg.isInRecovery && pg.replication.length > 0) {
      doc['replication'] = pg.replication.map((r) => ({
        usename: r.usename,
        application_name: r.applicationName,
        client_addr: r.clientAddr,
        state: r.state,
        sync_state: r.syncState,
        sync_priority: r.syncPriority,
      }));
    }
  } else {
    doc['role'] = v.isLeader ? 'master' : 'replica';
  }
  if (!v.cluster?.leader || !v.isDcsReachable) doc['cluster_unlocked'] = true;
  if (v.isFailsafeActive) doc['failsafe_mode_is_active'] = true;
  doc['dcs_last_seen'] = Math.floor(v.dcsLastSeen / 1000);
  if (Object.keys(v.tags).length > 0) doc['tags'] = v.tags;
  if (pg) doc['database_system_identifier'] = pg.systemId;
  if (isPaused(v)) doc['pause'] = true;
  doc['patroni'] = { version: COMPAT_VERSION, scope: v.scope, name: v.name };
  return doc;
}
