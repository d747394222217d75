import type { ClusterState } from '../../src/cluster/index.js';

/** PostgreSQL as the agent last observed it (one query round per cycle). */
export interface LocalPostgres {
  /** Patroni's PostgresqlState string: `running`, `stopped`, `starting`, `crashed`, `creating replica`, ... */
  readonly state: string;
  readonly isRunning: boolean;
  /** No PG_VERSION in the data directory: bootstrap or clone needed. */
  readonly isDataDirEmpty: boolean;
  /** null when not running. */
  readonly isInRecovery: boolean | null;
  /** From pg_controldata when stopped: was it shut down as a primary (no standby.signal)? */
  readonly wasPrimary: boolean;
  readonly timeline: number | null;
  /** Primary: flush LSN; replica: max(receive, replay). Bytes. */
  readonly walPosition: number | null;
  readonly systemId: string | null;
  /** Member name PostgreSQL streams from (application of primary_conninfo), null when none. */
  readonly followingMember: string | null;
  /** Primary only: walsenders (pg_stat_replication). */
  readonly replication: readonly ReplicationRow[];
  /** A running standby whose walreceiver has not been streaming for this long (ms); 0 when streaming. */
  readonly notStreamingMs: number;
  /** Current `synchronous_standby_names`. */
  readonly synchronousStandbyNames: string;
}

export interface ReplicationRow {
  readonly applicationName: string;
  readonly state: string;
  /** `sync`, `async`, `potential`, `quorum`. */
  readonly syncState: string;
  readonly flushLsn: number | null;
}

/** What the agent knows about its own etcd lease. Times are ms on the caller's clock. */
export interface LeaseStatus {
  /** etcd lease id, decimal, or null when no lease is granted. */
  readonly id: string | null;
  /**
   * Moment before which the lease is certainly alive on the server: send time of the last acknowledged
   * keepalive + ttl − safety margin. A primary must stop accepting writes by then.
   */
  readonly safeUntil: number;
}

/** One other member's answer to `GET /patroni` (or its absence). */
export interface PeerStatus {
  readonly name: string;
  readonly isReachable: boolean;
  readonly isInRecovery: boolean;
  readonly walPosition: number;
  readonly timeline: number | null;
  readonly isNoFailover: boolean;
  readonly failoverPriority: number;
  readonly state: string;
}

export interface OwnTags {
  readonly isNoFailover: boolean;
  /** Default 1; ≤ 0 means nofailover. */
  readonly failoverPriority: number;
  readonly isNoSync: boolean;
}

/** Everything one HA cycle decides from. Built by the loop; no field is read twice from the world. */
export interface HaSnapshot {
  /** ms since epoch. */
  readonly now: number;
  readonly name: string;
  /** null when etcd could not be read this cycle. */
  readonly cluster: ClusterState | null;
  readonly pg: LocalPostgres;
  readonly lease: LeaseStatus;
  readonly tags: OwnTags;
  /** Answers of the other members, when asked (leader race, switchover). */
  readonly peers: ReadonlyMap<string, PeerStatus>;
  /** Failsafe check while etcd is down: every member in `/failsafe` accepted our POST /failsafe. */
  readonly failsafeAllAccepted: boolean;
  /** A primary told us by POST /failsafe that it is alive, until this time (ms); 0 = never. */
  readonly failsafeLeaderAliveUntil: number;
  readonly bootstrap: { readonly synchronousMode: boolean };
  /** How long this node's PostgreSQL has been seen down while it held the leader key (ms); 0 otherwise. */
  readonly pgDownForMs: number;
}

export type DemoteMode = 'offline' | 'graceful' | 'immediate';

/** One step the loop performs. Steps run in order; the first failure ends the cycle. */
export type HaAction =
  | { readonly kind: 'bootstrap' }
  | { readonly kind: 'clone'; readonly from: string }
  | { readonly kind: 'start_primary' }
  | { readonly kind: 'start_replica'; readonly leader: string | null; readonly rewind: boolean }
  | { readonly kind: 'follow'; readonly leader: string }
  | { readonly kind: 'acquire_lock' }
  | { readonly kind: 'take_over_own_key' }
  | { readonly kind: 'promote' }
  | { readonly kind: 'demote'; readonly mode: DemoteMode; readonly releaseLock: boolean }
  /** Planned switchover from this leader; `candidate` is the member the key is handed to (null: a race). */
  | { readonly kind: 'switchover'; readonly candidate: string | null }
  /** PostgreSQL crashed on this leader and the policy is to fail over: release the key (to `candidate`). */
  | { readonly kind: 'release_after_crash'; readonly candidate: string | null }
  | { readonly kind: 'clear_failover'; readonly modRevision: number | null }
  | { readonly kind: 'write_initialize' }
  | { readonly kind: 'write_status' }
  | { readonly kind: 'write_history' }
  | { readonly kind: 'write_failsafe' }
  | {
      readonly kind: 'write_sync';
      readonly standbys: readonly string[] | null;
      readonly modRevision: number | null;
    }
  | { readonly kind: 'set_synchronous_standby_names'; readonly value: string }
  | { readonly kind: 'fatal'; readonly reason: string };

export interface HaDecision {
  readonly actions: readonly HaAction[];
  /** One sentence in Patroni's style, logged and shown in REST. */
  readonly sentence: string;
}

export const decision = (sentence: string, ...actions: HaAction[]): HaDecision => ({ actions, sentence });
