import { isPaused, isSyncStandby, type NodeView } from './view.js';

/** Patroni's `/metrics` gauges (3.0.2 names, incl. `patroni_master`), labels `{scope, name}`. */
export function metricsText(v: NodeView): string {
  const labels = `{scope="${v.scope}",name="${v.name}"}`;
  const pg = v.pg;
  const isPrimary = v.isLeader && pg !== null && !pg.isInRecovery;
  const gauges: [string, string, number][] = [
    ['patroni_version', 'Patroni semver without periods.', 30002],
    [
      'patroni_postgres_running',
      'Value is 1 if Postgres is running, 0 otherwise.',
      v.pgState === 'running' ? 1 : 0,
    ],
    [
      'patroni_postmaster_start_time',
      'Epoch seconds since Postgres started.',
      pg
        ? Date.parse(pg.postmasterStartTime.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')) / 1000 || 0
        : 0,
    ],
    ['patroni_master', 'Value is 1 if this node is the leader, 0 otherwise.', isPrimary ? 1 : 0],
    ['patroni_primary', 'Value is 1 if this node is the leader, 0 otherwise.', isPrimary ? 1 : 0],
    [
      'patroni_xlog_location',
      'Current location of the Postgres transaction log, 0 if this node is not the leader.',
      isPrimary ? (pg?.flushLsn ?? 0) : 0,
    ],
    ['patroni_standby_leader', 'Value is 1 if this node is the standby_leader, 0 otherwise.', 0],
    ['patroni_replica', 'Value is 1 if this node is a replica, 0 otherwise.', pg?.isInRecovery ? 1 : 0],
    [
      'patroni_sync_standby',
      'Value is 1 if this node is a sync standby replica, 0 otherwise.',
      isSyncStandby(v) ? 1 : 0,
    ],
    [
      'patroni_xlog_received_location',
      'Current location of the received Postgres transaction log, 0 if this node is not a replica.',
      pg?.isInRecovery ? (pg.receiveLsn ?? 0) : 0,
    ],
    [
      'patroni_xlog_replayed_location',
      'Current location of the replayed Postgres transaction log, 0 if this node is not a replica.',
      pg?.isInRecovery ? (pg.replayLsn ?? 0) : 0,
    ],
    [
      'patroni_xlog_paused',
      'Value is 1 if the Postgres xlog is paused, 0 otherwise.',
      pg?.isReplayPaused ? 1 : 0,
    ],
    [
      'patroni_postgres_timeline',
      'Postgres timeline of this node (if running), 0 otherwise.',
      pg?.timeline ?? 0,
    ],
    [
      'patroni_dcs_last_seen',
      'Epoch timestamp when DCS was last contacted successfully by Patroni.',
      Math.floor(v.dcsLastSeen / 1000),
    ],
    [
      'patroni_cluster_unlocked',
      'Value is 1 if the cluster is unlocked, 0 if locked.',
      v.cluster?.leader ? 0 : 1,
    ],
    [
      'patroni_failsafe_mode_is_active',
      'Value is 1 if failsafe mode is active, 0 if inactive.',
      v.isFailsafeActive ? 1 : 0,
    ],
    ['patroni_is_paused', 'Value is 1 if auto failover is disabled, 0 otherwise.', isPaused(v) ? 1 : 0],
  ];
  return gauges
    .map(([name, help, value]) => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}${labels} ${value}\n`)
    .join('');
}
