import type { ClusterState } from '../../src/cluster/index.js';
import { isPeerPromotable } from './race.js';
import { decision, type HaDecision, type HaSnapshot } from './types.js';

type Failover = NonNullable<ClusterState['failover']>;

export function failoverCandidate(f: Failover): string | null {
  return f.member ?? f.candidate ?? null;
}

function scheduledAt(f: Failover): number | null {
  if (!f.scheduled_at) return null;
  const t = Date.parse(f.scheduled_at);
  return Number.isNaN(t) ? null : t;
}

/**
 * The candidate to hand the key to: the requested one, else the most advanced of `eligible` (the members
 * the decision found promotable; in synchronous mode only `/sync` standbys are).
 */
export function chooseCandidate(
  requested: string | null,
  eligible: readonly { name: string; walPosition: number }[],
): string | null {
  if (requested !== null) return eligible.some((e) => e.name === requested) ? requested : null;
  let best: { name: string; walPosition: number } | null = null;
  for (const e of eligible) if (best === null || e.walPosition > best.walPosition) best = e;
  return best?.name ?? null;
}

const clear = (sentence: string): HaDecision =>
  decision(sentence, { kind: 'clear_failover', modRevision: null });

/**
 * The leader's handling of a `/failover` key (Patroni's `process_manual_failover_from_leader`). Returns null
 * when there is nothing to do and the leader carries on. Only this path demotes a healthy leader on purpose.
 */
export function manualFailoverFromLeader(
  s: HaSnapshot,
  cluster: ClusterState,
  f: Failover,
): HaDecision | null {
  const loopWaitMs = cluster.config.loopWait * 1000;
  const at = scheduledAt(f);
  if (f.scheduled_at !== undefined && at === null)
    return clear(`cleared failover key: unparsable scheduled_at ${JSON.stringify(f.scheduled_at)}`);
  if (at !== null) {
    if (at > s.now + loopWaitMs)
      return decision(
        `awaiting scheduled switchover at ${new Date(at).toISOString()} (in ${Math.round((at - s.now) / 1000)} seconds)`,
      );
    if (at < s.now - 1.5 * loopWaitMs) return clear('found a stale failover value, cleaning up');
  }
  const candidate = failoverCandidate(f);
  if (f.leader && f.leader !== s.name)
    return clear(`manual failover: leader name does not match: ${f.leader} != ${s.name}`);
  if (candidate === s.name) return clear('manual failover: I am already the leader, no need to failover');
  if (cluster.config.isPaused && !candidate)
    return clear('manual failover: a candidate is required while paused');
  const others = [...cluster.members.keys()].filter((n) => n !== s.name);
  const pool = candidate ? [candidate] : others;
  const possible = pool.filter((n) => isPeerPromotable(s, cluster, s.peers.get(n), f.leader !== undefined));
  if (possible.length === 0) {
    return clear(
      candidate
        ? `manual failover: member ${candidate} is not healthy, failover is not possible`
        : 'manual failover: no healthy members found, failover is not possible',
    );
  }
  // The key is handed to one member (the requested one, else the most advanced promotable one), so it
  // takes the key at once instead of every replica racing.
  const chosen = chooseCandidate(
    candidate,
    possible.map((n) => ({ name: n, walPosition: s.peers.get(n)?.walPosition ?? 0 })),
  );
  return decision(`manual failover: demoting myself in favour of ${chosen ?? possible.join(', ')}`, {
    kind: 'switchover',
    candidate: chosen,
  });
}

/**
 * A replica's view of a `/failover` key when nobody holds `leader` (Patroni's `manual_failover_process_no_leader`).
 * Returns `race` when this node should race (candidate absent or unhealthy), `take` when it is the
 * candidate, or a sentence to wait.
 */
export function manualFailoverNoLeader(
  s: HaSnapshot,
  cluster: ClusterState,
  f: Failover,
): { kind: 'take' } | { kind: 'race'; exclude: string | null } | { kind: 'wait'; sentence: string } {
  const candidate = failoverCandidate(f);
  if (candidate === s.name) return { kind: 'take' };
  if (candidate) {
    const peer = s.peers.get(candidate);
    if (peer && peer.isReachable && peer.isInRecovery !== undefined && !peer.isNoFailover) {
      return { kind: 'wait', sentence: `manual failover: waiting for ${candidate} to take the leader lock` };
    }
  }
  if (cluster.config.isPaused)
    return { kind: 'wait', sentence: 'manual failover: candidate is not reachable; paused, not racing' };
  return { kind: 'race', exclude: f.leader ?? null };
}
