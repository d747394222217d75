import type { ClusterState } from '../../src/cluster/index.js';
import type { HaSnapshot, PeerStatus } from './types.js';

/** Cluster timeline from `/history`: last line's timeline + 1; no history means 1. */
export function clusterTimeline(cluster: ClusterState): number {
  const last = cluster.history[cluster.history.length - 1];
  return last && typeof last[0] === 'number' ? last[0] + 1 : 1;
}

/** Members that may be promoted in synchronous mode: `/sync` leader and standbys (case-insensitive). */
export function isSyncPromotable(cluster: ClusterState, name: string): boolean {
  if (!cluster.sync) return false;
  const n = name.toLowerCase();
  return cluster.sync.leader?.toLowerCase() === n || cluster.sync.standbys.some((s) => s.toLowerCase() === n);
}

export function isSyncModeActive(cluster: ClusterState): boolean {
  return cluster.config.synchronousMode === true;
}

export interface RaceVerdict {
  readonly isHealthiest: boolean;
  /** Why not, in Patroni's words; null when healthiest. */
  readonly reason: string | null;
}

const win: RaceVerdict = { isHealthiest: true, reason: null };
const lose = (reason: string): RaceVerdict => ({ isHealthiest: false, reason });

/**
 * Patroni's `_is_healthiest_node`: may this node take the leader key when nobody holds it? Several nodes may
 * all think they are healthiest; the create-only transaction on `leader` decides between them.
 * `checkLag` is false for a manual failover whose named candidate is gone (anyone but the old leader races).
 */
export function isHealthiestNode(
  s: HaSnapshot,
  cluster: ClusterState,
  options: { checkLag: boolean; exclude?: string | null },
): RaceVerdict {
  const pg = s.pg;
  const myTimeline = pg.timeline ?? 0;
  const clusterTl = clusterTimeline(cluster);
  if (myTimeline < clusterTl && cluster.history.length > 0) {
    return lose(`my timeline ${myTimeline} is behind the cluster timeline ${clusterTl}`);
  }
  if (pg.isInRecovery === false) return win;
  // Quorum commit (Patroni 4) is not implemented: a standby must not judge durability by async rules.
  if (cluster.config.synchronousMode === 'quorum')
    return lose('synchronous_mode quorum is not implemented by the agent; not taking part in a failover');
  const myWal = pg.walPosition ?? 0;
  if (options.checkLag && cluster.optime !== null) {
    const lag = cluster.optime - myWal;
    if (lag > cluster.config.maximumLagOnFailover) {
      return lose(
        `my lag ${lag} bytes exceeds maximum_lag_on_failover ${cluster.config.maximumLagOnFailover}`,
      );
    }
  }
  const formerLeader = cluster.sync?.leader ?? null;
  for (const peer of s.peers.values()) {
    if (peer.name === s.name || !peer.isReachable || peer.name === options.exclude) continue;
    if (!peer.isInRecovery) return lose(`Primary (${peer.name}) is still alive`);
    if (peer.isNoFailover) continue;
    if (isSyncModeActive(cluster) && !isSyncPromotable(cluster, peer.name)) continue;
    if (peer.walPosition > myWal && !(isSyncModeActive(cluster) && peer.name === formerLeader)) {
      return lose(`${peer.name} is ahead of me (${peer.walPosition} > ${myWal})`);
    }
    if (peer.walPosition === myWal && peer.failoverPriority > s.tags.failoverPriority) {
      return lose(
        `${peer.name} has a higher failover_priority (${peer.failoverPriority} > ${s.tags.failoverPriority})`,
      );
    }
  }
  return win;
}

/** A manual-failover candidate counts as healthy when it answers, is a replica and may be promoted. */
export function isPeerPromotable(
  s: HaSnapshot,
  cluster: ClusterState,
  peer: PeerStatus | undefined,
  checkLag: boolean,
): boolean {
  if (!peer || !peer.isReachable || !peer.isInRecovery || peer.isNoFailover) return false;
  if (peer.state !== 'running') return false;
  if (isSyncModeActive(cluster) && !isSyncPromotable(cluster, peer.name)) return false;
  const reference = cluster.optime ?? s.pg.walPosition;
  if (checkLag && reference !== null && reference - peer.walPosition > cluster.config.maximumLagOnFailover)
    return false;
  return true;
}
