import type { ClusterState } from '../../src/cluster/index.js';
import type { HaAction, HaSnapshot } from './types.js';

/** Patroni's SSN form in priority mode: `name` or `N (a,b)`, names quoted when needed, sorted. */
export function formatSynchronousStandbyNames(names: readonly string[], count: number): string {
  if (names.length === 0) return '';
  const quoted = [...names]
    .sort()
    .map((n) => (/^[a-z_][a-z0-9_$]*$/.test(n) ? n : `"${n.replace(/"/g, '""')}"`));
  if (quoted.length === 1 && count === 1) return quoted[0] as string;
  return `${Math.min(count, quoted.length)} (${quoted.join(',')})`;
}

/** Member names listed in an SSN value written by `formatSynchronousStandbyNames` (or `*`). */
export function parseSynchronousStandbyNames(value: string): string[] {
  const v = value.trim();
  if (v === '' || v === '*') return [];
  const inner = v.match(/^(?:FIRST\s+|ANY\s+)?\d+\s*\((.*)\)$/i)?.[1] ?? v;
  return inner
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean)
    .map((n) => (n.startsWith('"') ? n.slice(1, -1).replace(/""/g, '"') : n.toLowerCase()));
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');

/**
 * Leader-side synchronous replication steps, in Patroni's order: remove from `/sync` first, then from
 * `synchronous_standby_names`; add to SSN first, then to `/sync` once PostgreSQL reports the standby as
 * `sync`. So `/sync` never names a standby that may be missing acknowledged commits. Each call returns at
 * most the next steps; the following cycles finish the sequence.
 */
export function planSync(s: HaSnapshot, cluster: ClusterState): HaAction[] {
  const raw = cluster.config.raw;
  // Quorum commit is refused (agent/config/sync-mode.ts): neither claim standbys nor drop Patroni's.
  if (cluster.config.synchronousMode === 'quorum') return [];
  const isSync = cluster.config.synchronousMode === true;
  if (!isSync) {
    const out: HaAction[] = [];
    if (s.pg.synchronousStandbyNames !== '') out.push({ kind: 'set_synchronous_standby_names', value: '' });
    if (cluster.sync) out.push({ kind: 'write_sync', standbys: null, modRevision: cluster.sync.modRevision });
    return out;
  }
  const isStrict = raw['synchronous_mode_strict'] === true;
  const count = typeof raw['synchronous_node_count'] === 'number' ? raw['synchronous_node_count'] : 1;
  const current = cluster.sync && cluster.sync.leader === s.name ? cluster.sync.standbys : [];
  const streaming = s.pg.replication.filter((r) => {
    const m = cluster.members.get(r.applicationName);
    return (
      r.state === 'streaming' && m !== undefined && m.tags['nosync'] !== true && m.tags['nostream'] !== true
    );
  });
  // Sticky: standbys already synchronous come first, then the most advanced.
  const ranked = [...streaming].sort(
    (a, b) =>
      Number(current.includes(b.applicationName)) - Number(current.includes(a.applicationName)) ||
      Number(b.syncState === 'sync') - Number(a.syncState === 'sync') ||
      (b.flushLsn ?? 0) - (a.flushLsn ?? 0),
  );
  const picked = ranked.slice(0, count).map((r) => r.applicationName);
  const reportedSync = new Set(
    s.pg.replication
      .filter((r) => r.syncState === 'sync' || r.syncState === 'quorum')
      .map((r) => r.applicationName),
  );
  const out: HaAction[] = [];
  const modRevision = cluster.sync?.modRevision ?? null;

  const kept = current.filter((n) => picked.includes(n));
  if (!sameSet(kept, current) || !cluster.sync || cluster.sync.leader !== s.name) {
    out.push({ kind: 'write_sync', standbys: kept, modRevision });
    return out;
  }
  const wantedSsn =
    picked.length > 0
      ? formatSynchronousStandbyNames(picked, count)
      : isStrict
        ? current.length > 0
          ? formatSynchronousStandbyNames(current, count)
          : '*'
        : '';
  if (s.pg.synchronousStandbyNames !== wantedSsn) {
    out.push({ kind: 'set_synchronous_standby_names', value: wantedSsn });
    return out;
  }
  const next = picked.filter((n) => reportedSync.has(n) || current.includes(n));
  if (!sameSet(next, current)) out.push({ kind: 'write_sync', standbys: next, modRevision });
  return out;
}
