import type { ClusterState } from '../../cluster/index.js';
import { clusterAsJson } from '../../cluster/cluster-json.js';

export type Cell = string | number | null | undefined;

/**
 * A PrettyTable like patronictl's: `+---+` rules, strings left-aligned, numbers right-aligned, and the title
 * written over the start of the top rule (`+ Cluster: demo ---+---`).
 */
export function prettyTable(headers: readonly string[], rows: readonly Cell[][], title?: string): string {
  const text = (c: Cell) => (c === null || c === undefined ? '' : String(c));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i]).length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const header = `| ${headers.map((h, i) => h.padEnd(widths[i] as number)).join(' | ')} |`;
  const line = (r: Cell[]) =>
    `| ${r.map((c, i) => (typeof c === 'number' ? text(c).padStart(widths[i] as number) : text(c).padEnd(widths[i] as number))).join(' | ')} |`;
  let top = rule;
  if (title) {
    const t = ` ${title} `;
    top = t.length + 2 <= rule.length ? `+${t}${rule.slice(t.length + 1)}` : `+${t}+`;
  }
  return [top, header, rule, ...rows.map(line), rule].join('\n');
}

export interface ListRow {
  Cluster: string;
  Member: string;
  Host: string;
  Role: string;
  State: string;
  TL?: number;
  'Lag in MB'?: number | string;
  Tags?: Record<string, unknown>;
  /** Patroni 4 member values: the replica's last received / replayed WAL position. */
  'Receive LSN'?: string;
  'Replay LSN'?: string;
  'Pending restart'?: string;
  'Scheduled restart'?: string;
}

/** A byte position as PostgreSQL writes an LSN (`0/3000060`). */
export function formatLsn(bytes: number): string {
  const hi = Math.floor(bytes / 2 ** 32);
  const lo = bytes - hi * 2 ** 32;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

const title = (role: string) => role.replace(/_/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase());

/** Rows of `patronictl list` (3.0.2 columns), from the same `cluster_as_json` Patroni uses. */
export function listRows(scope: string, cluster: ClusterState): ListRow[] {
  const json = clusterAsJson(cluster);
  const hosts = json.members.map((m) => m.host);
  const showPort = json.members.some((m) => m.port !== 5432) || new Set(hosts).size !== hosts.length;
  return json.members.map((m) => {
    const row: ListRow = {
      Cluster: scope,
      Member: m.name,
      Host: showPort ? `${m.host}:${m.port}` : m.host,
      Role: title(m.role),
      State: m.state,
    };
    if (m.timeline !== undefined) row.TL = m.timeline;
    if (m.lag !== undefined)
      row['Lag in MB'] = typeof m.lag === 'number' ? Math.round(m.lag / 1024 / 1024) : m.lag;
    if (m.tags) row.Tags = m.tags;
    const value = cluster.members.get(m.name)?.value;
    if (typeof value?.receive_lsn === 'number') row['Receive LSN'] = formatLsn(value.receive_lsn);
    if (typeof value?.replay_lsn === 'number') row['Replay LSN'] = formatLsn(value.replay_lsn);
    if (m.pending_restart) row['Pending restart'] = '*';
    const scheduled = (value as { scheduled_restart?: { schedule?: unknown } } | undefined)
      ?.scheduled_restart;
    if (typeof scheduled?.schedule === 'string') row['Scheduled restart'] = scheduled.schedule;
    return row;
  });
}

/**
 * `patronictl list` / `topology` pretty output. Topology puts the leader first and prefixes replicas.
 * Receive/Replay LSN columns appear when a member publishes them (Patroni 4); `extended` (`-e`) adds
 * Pending restart and Scheduled restart, and Tags always.
 */
export function formatList(scope: string, cluster: ClusterState, topology = false, extended = false): string {
  let rows = listRows(scope, cluster);
  if (topology) {
    const leader = rows.filter((r) => r.Role === 'Leader');
    rows = [
      ...leader,
      ...rows.filter((r) => r.Role !== 'Leader').map((r) => ({ ...r, Member: `+ ${r.Member}` })),
    ];
  }
  const withTags = extended || rows.some((r) => r.Tags);
  const withLsn = rows.some((r) => r['Receive LSN'] !== undefined || r['Replay LSN'] !== undefined);
  const headers = [
    'Member',
    'Host',
    'Role',
    'State',
    'TL',
    ...(withLsn ? ['Receive LSN'] : []),
    'Lag in MB',
    ...(withLsn ? ['Replay LSN'] : []),
    ...(extended ? ['Pending restart', 'Scheduled restart'] : []),
    ...(withTags ? ['Tags'] : []),
  ];
  const table = prettyTable(
    headers,
    rows.map((r) => [
      r.Member,
      r.Host,
      r.Role,
      r.State,
      r.TL,
      ...(withLsn ? [r['Receive LSN']] : []),
      r['Lag in MB'],
      ...(withLsn ? [r['Replay LSN']] : []),
      ...(extended ? [r['Pending restart'], r['Scheduled restart']] : []),
      ...(withTags ? [r.Tags ? JSON.stringify(r.Tags) : ''] : []),
    ]),
    `Cluster: ${scope}`,
  );
  const footer: string[] = [];
  if (cluster.config.isPaused) footer.push(' Maintenance mode: on');
  const f = cluster.failover;
  if (f?.scheduled_at) {
    footer.push(` Switchover scheduled at: ${f.scheduled_at}`);
    if (f.leader) footer.push(`                    from: ${f.leader}`);
    if (f.member) footer.push(`                      to: ${f.member}`);
  }
  return [table, ...footer].join('\n');
}

export interface HistoryRow {
  TL: number;
  LSN: number;
  Reason: string;
  Timestamp?: string;
  'New Leader'?: string;
}

export function historyRows(cluster: ClusterState): HistoryRow[] {
  return cluster.history.map((l) => {
    const row: HistoryRow = { TL: l[0] as number, LSN: l[1] as number, Reason: String(l[2] ?? '') };
    if (l[3] !== undefined && l[3] !== null) row.Timestamp = String(l[3]);
    if (l[4] !== undefined && l[4] !== null) row['New Leader'] = String(l[4]);
    return row;
  });
}

export function formatHistory(cluster: ClusterState): string {
  return prettyTable(
    ['TL', 'LSN', 'Reason', 'Timestamp', 'New Leader'],
    historyRows(cluster).map((r) => [r.TL, r.LSN, r.Reason, r.Timestamp, r['New Leader']]),
  );
}
