import type { ClusterState } from '../../src/cluster/index.js';
import type { HaSnapshot, LocalPostgres, OwnTags, PeerStatus } from './types.js';

/** Own tags as the HA decision reads them (`failover_priority` ≤ 0 means nofailover, like Patroni). */
export function ownTags(tags: Readonly<Record<string, unknown>>): OwnTags {
  const priority = typeof tags['failover_priority'] === 'number' ? tags['failover_priority'] : 1;
  return {
    isNoFailover: tags['nofailover'] === true || priority <= 0,
    failoverPriority: priority,
    isNoSync: tags['nosync'] === true,
  };
}

export interface SnapshotInput {
  /** Wall clock, ms since epoch. */
  readonly now: number;
  /** Monotonic clock, ms (the lease deadline's clock). */
  readonly monotonicNow: number;
  readonly name: string;
  readonly cluster: ClusterState | null;
  readonly pg: LocalPostgres;
  readonly leaseId: string | null;
  /** Monotonic ms by which a primary must stop accepting writes. */
  readonly safeUntilMonotonic: number;
  readonly tags: Readonly<Record<string, unknown>>;
  readonly peers: ReadonlyMap<string, PeerStatus>;
  readonly failsafeAllAccepted: boolean;
  readonly failsafeLeaderAliveUntil: number;
  readonly bootstrapDcs: Readonly<Record<string, unknown>>;
  /** See HaSnapshot.pgDownForMs (default 0). */
  readonly pgDownForMs?: number;
}

/** The HA cycle's snapshot from what the loop gathered (pure: the lease deadline moves to the wall clock). */
export function buildSnapshot(i: SnapshotInput): HaSnapshot {
  return {
    now: i.now,
    name: i.name,
    cluster: i.cluster,
    pg: i.pg,
    lease: { id: i.leaseId, safeUntil: i.now + (i.safeUntilMonotonic - i.monotonicNow) },
    tags: ownTags(i.tags),
    peers: i.peers,
    failsafeAllAccepted: i.failsafeAllAccepted,
    failsafeLeaderAliveUntil: i.failsafeLeaderAliveUntil,
    bootstrap: { synchronousMode: i.bootstrapDcs['synchronous_mode'] === true },
    pgDownForMs: i.pgDownForMs ?? 0,
  };
}
