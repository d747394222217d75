import { isPaused, isSyncStandby, type NodeView } from './view.js';

/** `16kB`, `64MB`, `1GB` or plain bytes → bytes; null when unparsable. */
export function parseLag(value: string): number | null {
  const m = /^\s*(\d+)\s*(B|kB|MB|GB|TB)?\s*$/.exec(value);
  if (!m) return null;
  const unit = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[(m[2] ?? 'B') as 'B'];
  return Number(m[1]) * unit;
}

/** Writable primary: lock held with a live lease, PostgreSQL running out of recovery. */
export function isWritablePrimary(v: NodeView): boolean {
  if (isPaused(v) && !v.isDcsReachable) return v.pg !== null && !v.pg.isInRecovery;
  return v.isLeader && v.pg !== null && !v.pg.isInRecovery;
}

function tagFiltersMatch(v: NodeView, query: URLSearchParams): boolean {
  for (const [k, want] of query) {
    if (!k.startsWith('tag_')) continue;
    const have = v.tags[k.slice(4)];
    if (have === undefined || String(have).toLowerCase() !== want.toLowerCase()) return false;
  }
  return true;
}

function isHealthyReplica(v: NodeView, query: URLSearchParams): boolean {
  if (v.pgState !== 'running' || !v.pg || !v.pg.isInRecovery) return false;
  if (v.tags['noloadbalance'] === true) return false;
  const lagParam = query.get('lag');
  if (lagParam !== null) {
    const max = parseLag(lagParam);
    const optime = v.cluster?.optime ?? null;
    if (max !== null && optime !== null && optime - (v.pg.replayLsn ?? 0) > max) return false;
  }
  return tagFiltersMatch(v, query);
}

/**
 * Patroni 4.1 readiness of a non-leader: PostgreSQL running, replicating (WAL receiver streaming) and
 * not further behind the leader's last known position than `?lag=` (default `maximum_lag_on_failover`).
 * `?mode=write` measures the received position, otherwise (`apply`) the replayed one.
 */
export function isReadyReplica(v: NodeView, query: URLSearchParams): boolean {
  if (v.pgState !== 'running' || !v.pg || !v.pg.isInRecovery || !v.pg.walReceiverStreaming) return false;
  const lagParam = query.get('lag');
  const max =
    (lagParam !== null ? parseLag(lagParam) : null) ?? v.cluster?.config.maximumLagOnFailover ?? 1048576;
  const optime = v.cluster?.optime ?? null;
  if (optime === null) return true;
  const at = query.get('mode') === 'write' ? (v.pg.receiveLsn ?? v.pg.replayLsn) : v.pg.replayLsn;
  return optime - (at ?? 0) <= max;
}

/**
 * Status code of a Patroni health path (reference §2.1). Matching is by substring, in Patroni's order;
 * null when the path is not a health path.
 */
export function healthStatus(path: string, query: URLSearchParams, v: NodeView): 200 | 503 | null {
  const ok = (b: boolean): 200 | 503 => (b ? 200 : 503);
  const p = path.replace(/\/+$/, '') || '/';
  if (p.includes('standby_leader') || p.includes('standby-leader')) return 503;
  if (p.includes('leader')) return ok(v.isLeader);
  if (p === '/' || p.includes('master') || p.includes('primary') || p.includes('read-write'))
    return ok(isWritablePrimary(v));
  if (p.includes('read-only-sync') || p.includes('read-only-synchronous')) {
    return ok(isWritablePrimary(v) || (isSyncStandby(v) && isHealthyReplica(v, query)));
  }
  if (p.includes('replica')) return ok(isHealthyReplica(v, query));
  if (p.includes('read-only')) return ok(isWritablePrimary(v) || isHealthyReplica(v, query));
  if (p.includes('health')) return ok(v.pgState === 'running');
  if (p.includes('liveness')) {
    const ttlMs = (v.cluster?.config.ttl ?? 30) * 1000;
    return ok(isPaused(v) || v.now - v.lastCycleAt < (v.isLeader ? ttlMs : 2 * ttlMs));
  }
  if (p.includes('readiness')) return ok(v.isLeader || isReadyReplica(v, query));
  if (p.includes('async') || p.includes('asynchronous'))
    return ok(isHealthyReplica(v, query) && !isSyncStandby(v));
  if (p.includes('sync') || p.includes('synchronous'))
    return ok(isHealthyReplica(v, query) && isSyncStandby(v));
  return null;
}
