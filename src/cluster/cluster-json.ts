import type { ClusterState } from './state.js';

export interface ClusterMemberJson {
  name: string;
  role: 'leader' | 'sync_standby' | 'replica';
  state: string;
  api_url?: string;
  host: string;
  port: number;
  timeline?: number;
  tags?: Record<string, unknown>;
  pending_restart?: boolean;
  lag?: number | 'unknown';
}

export interface ClusterJson {
  members: ClusterMemberJson[];
  pause?: true;
  scheduled_switchover?: { at: string; from: string | undefined; to: string | undefined };
}

/**
 * Patroni's `utils.cluster_as_json` (3.0.2): what `GET /cluster` answers and what `patronictl list` prints.
 * Members sorted by name; lag = cluster LSN (`/status` optime) − member `xlog_location`.
 */
export function clusterAsJson(cluster: ClusterState): ClusterJson {
  const leaderName = cluster.leader?.name ?? null;
  const clusterLsn = cluster.optime ?? 0;
  const syncNames = new Set((cluster.sync?.standbys ?? []).map((s) => s.toLowerCase()));
  const members: ClusterMemberJson[] = [];
  for (const m of cluster.members.values()) {
    const role =
      m.name === leaderName ? 'leader' : syncNames.has(m.name.toLowerCase()) ? 'sync_standby' : 'replica';
    const out: ClusterMemberJson = {
      name: m.name,
      role,
      state: m.state,
      ...(m.api ? { api_url: m.api.url } : {}),
      host: m.host,
      port: m.port,
    };
    if (m.timeline !== null) out.timeline = m.timeline;
    if (m.value.pending_restart) out.pending_restart = true;
    if (m.value.tags && Object.keys(m.value.tags).length > 0) out.tags = { ...m.value.tags };
    if (m.name !== leaderName) {
      const lsn = m.xlogLocation;
      out.lag = lsn === null ? 'unknown' : Math.max(0, clusterLsn - lsn);
    }
    members.push(out);
  }
  members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const result: ClusterJson = { members };
  if (cluster.config.isPaused) result.pause = true;
  const f = cluster.failover;
  if (f?.scheduled_at)
    result.scheduled_switchover = { at: f.scheduled_at, from: f.leader, to: f.member ?? f.candidate };
  return result;
}
