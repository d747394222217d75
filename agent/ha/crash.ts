import type { ClusterState } from '../../src/cluster/index.js';
import { isSyncModeActive } from './race.js';
import { decision, type HaDecision, type HaSnapshot } from './types.js';

/** Patroni's default `primary_start_timeout` (seconds): how long a crashed primary is restarted in place. */
export const PATRONI_PRIMARY_START_TIMEOUT_S = 300;

export interface CrashPolicy {
  /** Seconds the crashed primary is restarted in place before the key is released; 0 = fail over at once. */
  readonly timeoutS: number;
  /** Where the timeout came from, for the cycle sentence. */
  readonly source: 'config' | 'default (synchronous standby in /sync)' | 'default';
  /** The `/sync` standby that has every acknowledged commit (synchronous mode), or null. */
  readonly syncCandidate: string | null;
  /** `primary_start_timeout` was set but is not a number ≥ 0 (then the default applies). */
  readonly invalid: string | null;
}

/**
 * The leader's policy when its PostgreSQL is down (pure). `primary_start_timeout` in the cluster config
 * (`/config`, Patroni's name and meaning) wins when it is a number ≥ 0. Unset, the default depends on what a
 * failover can lose: with synchronous mode on and a running standby named in `/sync` nothing acknowledged
 * can be lost, so it is 0 (fail over at once); otherwise Patroni's 300 s of restarting in place.
 */
export function crashPolicy(s: HaSnapshot, cluster: ClusterState): CrashPolicy {
  const syncCandidate =
    isSyncModeActive(cluster) && cluster.sync?.leader === s.name
      ? (cluster.sync.standbys.find((n) => {
          const m = cluster.members.get(n);
          return n !== s.name && m !== undefined && m.state === 'running' && !m.isNoFailover;
        }) ?? null)
      : null;
  const raw = cluster.config.raw['primary_start_timeout'];
  const isValid = typeof raw === 'number' && Number.isFinite(raw) && raw >= 0;
  if (isValid) return { timeoutS: raw, source: 'config', syncCandidate, invalid: null };
  return {
    timeoutS: syncCandidate !== null ? 0 : PATRONI_PRIMARY_START_TIMEOUT_S,
    source: syncCandidate !== null ? 'default (synchronous standby in /sync)' : 'default',
    syncCandidate,
    invalid: raw === undefined || raw === null ? null : JSON.stringify(raw),
  };
}

/**
 * This node holds the leader key and its PostgreSQL, a primary, is not running (crashed or killed). Fail over
 * when the policy's timeout has passed (0: at once) and someone can take over: in synchronous mode only the
 * `/sync` standby (it has every acknowledged commit; without one the primary is restarted, like Patroni's
 * `is_failover_possible`), in asynchronous mode any replica that wins the race (its lag bounded by
 * `maximum_lag_on_failover`). Otherwise restart in place.
 */
export function crashedPrimary(s: HaSnapshot, cluster: ClusterState): HaDecision {
  const p = crashPolicy(s, cluster);
  const note = p.invalid ? `; primary_start_timeout ${p.invalid} is not a number ≥ 0, using the default` : '';
  const downS = Math.floor(s.pgDownForMs / 1000);
  const isSync = isSyncModeActive(cluster);
  const canFailOver =
    p.syncCandidate !== null ||
    (!isSync &&
      [...cluster.members.values()].some(
        (m) => m.name !== s.name && m.state === 'running' && !m.isNoFailover,
      ));
  if (s.pgDownForMs >= p.timeoutS * 1000 && canFailOver) {
    return decision(
      `PostgreSQL is down for ${downS} s, primary_start_timeout ${p.timeoutS} s (${p.source}): failing over${p.syncCandidate ? ` to the synchronous standby ${p.syncCandidate}` : ''}${note}`,
      { kind: 'release_after_crash', candidate: p.syncCandidate },
    );
  }
  return decision(
    `starting primary after failure (primary_start_timeout ${p.timeoutS} s, ${p.source}${canFailOver ? '' : '; nobody to fail over to'})${note}`,
    { kind: 'start_primary' },
  );
}
