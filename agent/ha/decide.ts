import type { ClusterState } from '../../src/cluster/index.js';
import { crashedPrimary } from './crash.js';
import { manualFailoverFromLeader, manualFailoverNoLeader } from './manual.js';
import { clusterTimeline, isHealthiestNode, isSyncModeActive, isSyncPromotable } from './race.js';
import { planSync } from './sync.js';
import { decision, type HaAction, type HaDecision, type HaSnapshot } from './types.js';

/** How long a standby may follow the leader without streaming before it is rejoined through pg_rewind. */
export const STREAMING_STALL_MS = 30_000;

/** The running PostgreSQL accepts writes (or would, once started, for `wasPrimary`). */
const isPrimary = (s: HaSnapshot) => s.pg.isRunning && s.pg.isInRecovery === false;

/**
 * Did this node write WAL past the point where the cluster left its timeline? Then it cannot stream from the
 * new leader without pg_rewind. Pure: uses `/history` lines `[tl, switchLsn, ...]`.
 */
export function needsRewind(s: HaSnapshot, cluster: ClusterState): boolean {
  const tl = s.pg.timeline;
  const lsn = s.pg.walPosition;
  if (tl === null || lsn === null) return s.pg.wasPrimary;
  // A former primary on an older timeline may have written WAL past the switch point that its control
  // file does not show (a crash leaves the checkpoint behind): let pg_rewind decide, it is cheap when
  // nothing diverged.
  if (s.pg.wasPrimary && tl < clusterTimeline(cluster)) return true;
  const line = cluster.history.find((l) => l[0] === tl);
  if (!line) return s.pg.wasPrimary && tl < clusterTimeline(cluster);
  return lsn > (line[1] as number);
}

/** Steps a lock holder repeats every cycle: keys only the leader writes. */
function leaderUpkeep(s: HaSnapshot, cluster: ClusterState): HaAction[] {
  const out: HaAction[] = [];
  if (cluster.initialize === null || cluster.initialize === '' || cluster.config.modRevision === null) {
    out.push({ kind: 'write_initialize' });
  }
  out.push({ kind: 'write_status' });
  if ((s.pg.timeline ?? 0) > clusterTimeline(cluster)) out.push({ kind: 'write_history' });
  if (cluster.config.isFailsafeMode) out.push({ kind: 'write_failsafe' });
  out.push(...planSync(s, cluster));
  return out;
}

function dcsDown(s: HaSnapshot): HaDecision {
  if (!isPrimary(s)) return decision('DCS is not accessible');
  if (s.failsafeAllAccepted) {
    return decision(
      'continue to run as a leader because failsafe mode is enabled and all members are accessible',
    );
  }
  // A blip shorter than the lease does not demote (Patroni waits retry_timeout); the lease deadline does.
  if (s.now < s.lease.safeUntil) {
    return decision(
      `DCS is not accessible; still the leader until the lease deadline (${Math.ceil((s.lease.safeUntil - s.now) / 1000)} s)`,
    );
  }
  return decision('demoted self because DCS is not accessible and I was a leader', {
    kind: 'demote',
    mode: 'offline',
    releaseLock: false,
  });
}

function noData(s: HaSnapshot, cluster: ClusterState): HaDecision {
  if (cluster.initialize === null) {
    if (s.tags.isNoFailover) return decision('waiting for leader to bootstrap (I am tagged nofailover)');
    return decision('trying to bootstrap a new cluster', { kind: 'bootstrap' });
  }
  const clonefrom = [...cluster.members.values()].find(
    (m) =>
      m.name !== s.name &&
      m.tags['clonefrom'] === true &&
      m.state === 'running' &&
      m.role !== 'uninitialized',
  );
  const source = clonefrom?.name ?? cluster.leader?.name ?? null;
  if (source === null || source === s.name) return decision('waiting for leader to bootstrap');
  return decision(`trying to bootstrap from ${clonefrom ? 'replica' : 'leader'} '${source}'`, {
    kind: 'clone',
    from: source,
  });
}

function notRunning(s: HaSnapshot, cluster: ClusterState): HaDecision {
  const leader = cluster.leader?.name ?? null;
  if (cluster.config.isPaused)
    return decision(`PAUSE: PostgreSQL is not running; not starting it (${s.pg.state})`);
  if (leader === s.name) {
    if (s.pg.wasPrimary) return crashedPrimary(s, cluster);
    return decision('starting as a secondary, then promoting: I hold the leader lock', {
      kind: 'start_replica',
      leader: null,
      rewind: false,
    });
  }
  const rewind = leader !== null && needsRewind(s, cluster);
  return decision(
    leader
      ? `starting as a secondary following ${leader}${rewind ? ' after pg_rewind' : ''}`
      : 'starting as a secondary: no leader yet',
    {
      kind: 'start_replica',
      leader,
      rewind,
    },
  );
}

/**
 * Synchronous mode before a promotion: `/sync` names this node alone, and with synchronous_mode_strict
 * `synchronous_standby_names` is `*` before PostgreSQL leaves recovery, so no commit is acknowledged by the
 * new primary alone (Patroni's `enforce_primary_role`). planSync picks the real standbys afterwards.
 */
function syncBeforePromote(s: HaSnapshot, cluster: ClusterState): HaAction[] {
  if (!isSyncModeActive(cluster)) return [];
  const steps: HaAction[] = [
    { kind: 'write_sync', standbys: [], modRevision: cluster.sync?.modRevision ?? null },
  ];
  if (cluster.config.raw['synchronous_mode_strict'] === true && s.pg.synchronousStandbyNames !== '*')
    steps.push({ kind: 'set_synchronous_standby_names', value: '*' });
  return steps;
}

function promoteSteps(s: HaSnapshot, cluster: ClusterState, sentence: string): HaDecision {
  const steps: HaAction[] = [{ kind: 'acquire_lock' }];
  if (!isPrimary(s)) steps.push(...syncBeforePromote(s, cluster), { kind: 'promote' });
  else if (isSyncModeActive(cluster))
    steps.push({ kind: 'write_sync', standbys: [], modRevision: cluster.sync?.modRevision ?? null });
  // Cleared after promoting: the request is done once this node leads; clearing first only delays writes.
  if (cluster.failover) steps.push({ kind: 'clear_failover', modRevision: null });
  return decision(sentence, ...steps);
}

/** Nobody holds `leader`: Patroni's `process_unhealthy_cluster`. */
function noLeader(s: HaSnapshot, cluster: ClusterState): HaDecision {
  if (cluster.config.isPaused) {
    if (isPrimary(s)) return decision('PAUSE: acquired session lock as a leader', { kind: 'acquire_lock' });
    return decision('PAUSE: no leader; not racing');
  }
  if (s.failsafeLeaderAliveUntil > s.now)
    return decision('no leader key, but the primary confirmed it is alive (failsafe); not racing');
  let checkLag = true;
  let exclude: string | null = null;
  // Patroni's is_healthiest_node: a nofailover node never takes the lock, not even when a /failover key
  // names it; in a switchover in synchronous mode only members of /sync may race.
  if (cluster.failover && !isPrimary(s)) {
    if (s.tags.isNoFailover)
      return decision('manual failover: I am tagged nofailover and may not be promoted; not racing');
    if (cluster.failover.leader && isSyncModeActive(cluster) && !isSyncPromotable(cluster, s.name))
      return decision('manual failover: I am not in /sync and may not be promoted in synchronous mode');
  }
  if (cluster.failover) {
    const manual = manualFailoverNoLeader(s, cluster, cluster.failover);
    if (manual.kind === 'wait') return decision(manual.sentence);
    if (manual.kind === 'take')
      return promoteSteps(s, cluster, 'promoted self to leader by acquiring session lock (manual failover)');
    checkLag = false;
    exclude = manual.exclude;
    if (exclude === s.name) return decision('manual failover: I am the former leader; not racing');
  }
  if (s.tags.isNoFailover) {
    return isPrimary(s)
      ? decision('demoting self: no leader lock and I am tagged nofailover', {
          kind: 'demote',
          mode: 'immediate',
          releaseLock: false,
        })
      : decision('no leader; I am tagged nofailover and do not race');
  }
  if (isSyncModeActive(cluster) && !isSyncPromotable(cluster, s.name) && !isPrimary(s)) {
    return decision('no leader; I am not a synchronous standby and may not be promoted');
  }
  const verdict = isHealthiestNode(s, cluster, { checkLag, exclude });
  if (!verdict.isHealthiest) {
    if (isPrimary(s)) {
      return decision(`demoting self: no leader lock and not healthy enough to take it (${verdict.reason})`, {
        kind: 'demote',
        mode: 'immediate',
        releaseLock: false,
      });
    }
    return decision(`not the healthiest node: ${verdict.reason}`);
  }
  return promoteSteps(
    s,
    cluster,
    isPrimary(s) ? 'acquired session lock as a leader' : 'promoted self to leader by acquiring session lock',
  );
}

/** The lock holder's lease is past its safe end (not in maintenance mode): stop accepting writes now. */
function leaseRunOut(s: HaSnapshot, cluster: ClusterState): HaDecision | null {
  if (cluster.config.isPaused || s.now < s.lease.safeUntil) return null;
  return decision('demoting self because the leader lease could not be renewed in time', {
    kind: 'demote',
    mode: 'immediate',
    releaseLock: false,
  });
}

/** I hold `leader`: keep it, enforce the primary role, run switchovers and sync replication. */
function withLock(s: HaSnapshot, cluster: ClusterState): HaDecision {
  const paused = cluster.config.isPaused;
  const runOut = leaseRunOut(s, cluster);
  if (runOut) return runOut;
  const pre: HaAction[] = cluster.leader?.lease !== s.lease.id ? [{ kind: 'take_over_own_key' }] : [];
  if (paused)
    return decision(
      `PAUSE: no action. I am (${s.name}), the leader with the lock`,
      ...pre,
      ...(isPrimary(s) ? [{ kind: 'write_status' } as const] : []),
    );
  if (!isPrimary(s)) {
    return decision(
      'promoted self to leader because I had the session lock',
      ...pre,
      ...syncBeforePromote(s, cluster),
      { kind: 'promote' },
    );
  }
  if (cluster.failover) {
    const manual = manualFailoverFromLeader(s, cluster, cluster.failover);
    if (manual) return decision(manual.sentence, ...pre, ...manual.actions);
  }
  return decision(
    `no action. I am (${s.name}), the leader with the lock`,
    ...pre,
    ...leaderUpkeep(s, cluster),
  );
}

/** Someone else holds `leader`: follow it; a primary without the lock demotes at once. */
function withoutLock(s: HaSnapshot, cluster: ClusterState, leader: string): HaDecision {
  if (isPrimary(s)) {
    if (cluster.config.isPaused)
      return decision(`PAUSE: continue to run as primary without lock (leader is ${leader})`);
    return decision('demoting self because I do not have the lock and I was a leader', {
      kind: 'demote',
      mode: 'immediate',
      releaseLock: false,
    });
  }
  if (s.pg.followingMember !== leader) {
    if (cluster.config.isPaused)
      return decision(
        `PAUSE: no action. I am (${s.name}), a secondary, not following the leader (${leader})`,
      );
    if (needsRewind(s, cluster)) {
      return decision(`following new leader ${leader} after pg_rewind`, {
        kind: 'start_replica',
        leader,
        rewind: true,
      });
    }
    return decision(`following new leader ${leader}`, { kind: 'follow', leader });
  }
  // Following the right leader but not streaming for long (e.g. its timeline forked from the leader's):
  // restart through pg_rewind, which is a no-op when nothing diverged.
  const leaderMember = cluster.members.get(leader);
  if (
    !cluster.config.isPaused &&
    s.pg.notStreamingMs > STREAMING_STALL_MS &&
    leaderMember?.state === 'running'
  ) {
    return decision(
      `not streaming from ${leader} for ${Math.round(s.pg.notStreamingMs / 1000)} s; rejoining through pg_rewind`,
      {
        kind: 'start_replica',
        leader,
        rewind: true,
      },
    );
  }
  const prefix = cluster.config.isPaused ? 'PAUSE: ' : '';
  return decision(`${prefix}no action. I am (${s.name}), a secondary, and following a leader (${leader})`);
}

/**
 * One HA cycle, decided from a snapshot: the steps to take and the sentence that explains them. Pure: no
 * etcd, no process, no clock (time is `s.now`). Mirrors Patroni's `Ha._run_cycle` for what the agent does.
 */
export function decide(s: HaSnapshot): HaDecision {
  const cluster = s.cluster;
  if (cluster === null) return dcsDown(s);
  if (s.pg.isDataDirEmpty) return noData(s, cluster);
  if (cluster.initialize && s.pg.systemId && cluster.initialize !== s.pg.systemId) {
    const reason = `data directory belongs to another cluster (system identifier ${s.pg.systemId}, cluster ${cluster.initialize}); refusing to start`;
    return decision(reason, { kind: 'fatal', reason });
  }
  if (!s.pg.isRunning) return notRunning(s, cluster);
  const leader = cluster.leader?.name ?? null;
  // Running, but the status query failed (or it still starts): whether it is a primary is unknown, so
  // nothing is promoted, demoted or followed from it (Patroni: "Error communicating with PostgreSQL - will
  // try again later"), except that a lock holder past its lease stops (the fence timer does too).
  if (s.pg.isInRecovery === null) {
    const runOut = leader === s.name ? leaseRunOut(s, cluster) : null;
    return runOut ?? decision(`error communicating with PostgreSQL (${s.pg.state}); will try again later`);
  }
  if (leader === null) return noLeader(s, cluster);
  if (leader === s.name) return withLock(s, cluster);
  return withoutLock(s, cluster, leader);
}
