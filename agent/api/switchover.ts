import type { ClusterState } from '../../src/cluster/index.js';
import type { PeerStatus } from '../ha/types.js';

export interface SwitchoverRequest {
  leader?: unknown;
  candidate?: unknown;
  member?: unknown;
  scheduled_at?: unknown;
}

export type SwitchoverCheck =
  | { ok: true; value: { leader?: string; member?: string; scheduled_at?: string }; isScheduled: boolean }
  | { ok: false; status: 400 | 412 | 422 | 503; message: string };

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/**
 * Validates `POST /switchover` and `POST /failover` like Patroni's `do_POST_failover`. Pure: the caller
 * passes a fresh cluster read and the candidates' `GET /patroni` answers. Never promotes anything.
 */
export function checkSwitchover(
  kind: 'switchover' | 'failover',
  body: SwitchoverRequest,
  cluster: ClusterState,
  peers: ReadonlyMap<string, PeerStatus>,
  now: number,
): SwitchoverCheck {
  const leader = str(body.leader);
  const candidate = str(body.candidate) ?? str(body.member);
  const scheduled = str(body.scheduled_at);
  const isSwitchover = kind === 'switchover' || leader !== undefined;
  const paused = cluster.config.isPaused;
  if (kind === 'failover' && !candidate && !leader) {
    return { ok: false, status: 400, message: 'Failover could be performed only to a specific candidate' };
  }
  if (kind === 'switchover' && !leader) {
    return { ok: false, status: 400, message: 'Switchover could be performed only from a specific leader' };
  }
  if (paused && !candidate)
    return {
      ok: false,
      status: 400,
      message: 'Switchover is possible only to a specific candidate in a paused state',
    };
  let at: string | undefined;
  if (scheduled) {
    if (kind === 'failover') return { ok: false, status: 400, message: "Failover can't be scheduled" };
    if (paused) return { ok: false, status: 400, message: "Can't schedule switchover in the paused state" };
    const t = Date.parse(scheduled);
    if (Number.isNaN(t) || !/([zZ]|[+-]\d\d:?\d\d)$/.test(scheduled)) {
      return {
        ok: false,
        status: 400,
        message: 'Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601',
      };
    }
    if (t < now) return { ok: false, status: 422, message: "Can't schedule switchover in the past" };
    at = new Date(t).toISOString().replace('Z', '+00:00');
  }
  if (isSwitchover) {
    if (!cluster.leader)
      return {
        ok: false,
        status: 503,
        message: 'Switchover is not possible: cluster does not have a leader',
      };
    if (cluster.leader.name !== leader)
      return { ok: false, status: 412, message: `leader name does not match` };
  }
  if (candidate) {
    if (candidate === leader)
      return { ok: false, status: 412, message: 'Switchover target and source are the same' };
    if (!cluster.members.has(candidate))
      return { ok: false, status: 412, message: `Member ${candidate} does not exist` };
    if (
      cluster.config.synchronousMode === true &&
      !(cluster.sync?.standbys ?? []).some((s) => s.toLowerCase() === candidate.toLowerCase())
    ) {
      return { ok: false, status: 412, message: 'candidate name does not match with sync_standby' };
    }
  }
  if (!at) {
    const isSync = cluster.config.synchronousMode === true;
    const pool = candidate
      ? [candidate]
      : [...cluster.members.keys()].filter(
          (n) => n !== leader && (!isSync || (cluster.sync?.standbys ?? []).includes(n)),
        );
    const healthy = pool.filter((n) => {
      const p = peers.get(n);
      return p && p.isReachable && p.isInRecovery && !p.isNoFailover && p.state === 'running';
    });
    if (healthy.length === 0) {
      return {
        ok: false,
        status: 412,
        message: candidate ? `candidate ${candidate} is not healthy` : 'No candidates found to switchover to',
      };
    }
  }
  const value: { leader?: string; member?: string; scheduled_at?: string } = {};
  if (leader) value.leader = leader;
  if (candidate) value.member = candidate;
  if (at) value.scheduled_at = at;
  return { ok: true, value, isScheduled: at !== undefined };
}
