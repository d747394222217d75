import { buildClusterState, type ClusterState, type RawKey } from '../../../src/cluster/index.js';
import type { HaSnapshot, LocalPostgres, PeerStatus } from '../../../agent/ha/types.js';

export const NOW = Date.parse('2026-11-22T16:00:00Z');

export function member(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const port = 5432 + Number(name.replace(/\D/g, '') || 0);
  return {
    conn_url: `postgres://127.0.0.1:${port}/postgres`,
    api_url: `http://127.0.0.1:${8008 + Number(name.replace(/\D/g, '') || 0)}/patroni`,
    state: 'running',
    role: 'replica',
    version: '3.0.2',
    xlog_location: 1000,
    timeline: 2,
    ...extra,
  };
}

export interface ClusterSpec {
  leader?: string | null;
  leaderLease?: string;
  members?: Record<string, Record<string, unknown>>;
  config?: Record<string, unknown>;
  optime?: number;
  initialize?: string | null;
  failover?: Record<string, unknown>;
  sync?: { leader: string; sync_standby: string | null };
  history?: unknown[];
  failsafe?: Record<string, string>;
}

export function cluster(spec: ClusterSpec = {}): ClusterState {
  const keys: RawKey[] = [];
  let rev = 10;
  const put = (key: string, value: unknown, lease = '0') =>
    keys.push({
      key,
      value: typeof value === 'string' ? value : JSON.stringify(value),
      modRevision: rev++,
      lease,
    });
  const members = spec.members ?? {
    pg1: member('pg1', { role: 'master' }),
    pg2: member('pg2'),
    pg3: member('pg3'),
  };
  for (const [n, v] of Object.entries(members)) put(`members/${n}`, v, '7');
  if (spec.leader !== null) put('leader', spec.leader ?? 'pg1', spec.leaderLease ?? '7');
  put('config', {
    ttl: 10,
    loop_wait: 2,
    retry_timeout: 4,
    maximum_lag_on_failover: 1048576,
    ...spec.config,
  });
  if (spec.initialize !== null) put('initialize', spec.initialize ?? '7711014012193992191');
  put('status', { optime: spec.optime ?? 1000 });
  put(
    'history',
    spec.history ?? [[1, 500, 'no recovery target specified', '2026-11-22T15:18:21+00:00', 'pg1']],
  );
  if (spec.failover) put('failover', spec.failover);
  if (spec.sync) put('sync', spec.sync);
  if (spec.failsafe) put('failsafe', spec.failsafe);
  return buildClusterState('lab', keys);
}

export const primaryPg: LocalPostgres = {
  state: 'running',
  isRunning: true,
  isDataDirEmpty: false,
  isInRecovery: false,
  wasPrimary: true,
  timeline: 2,
  walPosition: 1000,
  systemId: '7711014012193992191',
  followingMember: null,
  replication: [],
  synchronousStandbyNames: '',
  notStreamingMs: 0,
};

export const replicaPg: LocalPostgres = { ...primaryPg, isInRecovery: false, wasPrimary: false };
Object.assign(replicaPg, { isInRecovery: true, followingMember: 'pg1' });

export const stoppedPg: LocalPostgres = {
  ...primaryPg,
  state: 'stopped',
  isRunning: false,
  isInRecovery: null,
};
export const emptyPg: LocalPostgres = {
  ...stoppedPg,
  isDataDirEmpty: true,
  wasPrimary: false,
  timeline: null,
  walPosition: null,
  systemId: null,
};

export function peer(name: string, extra: Partial<PeerStatus> = {}): PeerStatus {
  return {
    name,
    isReachable: true,
    isInRecovery: true,
    walPosition: 1000,
    timeline: 2,
    isNoFailover: false,
    failoverPriority: 1,
    state: 'running',
    ...extra,
  };
}

export function snapshot(
  over: Partial<Omit<HaSnapshot, 'pg'>> & { pg?: Partial<LocalPostgres> } = {},
): HaSnapshot {
  const { pg, ...rest } = over;
  return {
    now: NOW,
    name: 'pg1',
    cluster: cluster(),
    pg: { ...primaryPg, ...pg },
    lease: { id: '7', safeUntil: NOW + 7500 },
    tags: { isNoFailover: false, failoverPriority: 1, isNoSync: false },
    peers: new Map(),
    failsafeAllAccepted: false,
    failsafeLeaderAliveUntil: 0,
    bootstrap: { synchronousMode: false },
    pgDownForMs: 0,
    ...rest,
  };
}

export const peers = (...list: PeerStatus[]): Map<string, PeerStatus> =>
  new Map(list.map((p) => [p.name, p]));
