import type { ClusterState, Member } from '../src/cluster/index.js';
import type { ClusterWriter } from '../src/dcs/cluster-writer.js';
import type { AgentLease } from '../src/dcs/lease.js';
import { SwitchyardError, describeError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import type { AgentConfig } from './config/load.js';
import type { HaAction } from './ha/types.js';
import { awaitPromotion, handOver, requestPromotion } from './leadership/handover.js';
import type { Observation } from './observe.js';
import type { PgControl } from './postgres/control.js';
import { slotName, type Following } from './postgres/files.js';
import type { PgQuery } from './postgres/query.js';
import { RewindSourceNotReady } from './postgres/rewind-source.js';
import { OldPostmasterNotGone } from './postgres/postmaster.js';

/** Context of one cycle's actions. */
export interface ActionContext {
  readonly cluster: ClusterState;
  readonly obs: Observation;
}

/** Result of one step: ok, or the reason the cycle stopped there. */
export type StepResult = { ok: true; note?: string } | { ok: false; reason: string };

export interface ExecutorDeps {
  config: AgentConfig;
  control: PgControl;
  query: PgQuery;
  writer: ClusterWriter;
  /** The agent's current lease (replaced when the cluster's ttl changes). */
  lease: () => AgentLease;
  log: Logger;
  /** Runs a long step in the background (the loop keeps renewing the lease meanwhile). */
  runTask(name: string, state: string, task: () => Promise<void>): void;
  /** Called right after this node took or lost the leader key. */
  onLeadership(isLeader: boolean): void;
  /** The CHECKPOINT `POST /switchover` already started, if any (see HandoverPrep). */
  earlyCheckpoint?: () => Promise<void> | null;
}

/** `{host, port, slot}` of the member to stream from. */
export function followingOf(member: Member, self: string): Following {
  return { host: member.host, port: member.port, slot: slotName(self) };
}

const pyNow = () => new Date().toISOString().replace('Z', '+00:00');

/**
 * Applies HA steps (the I/O half of the loop). Each method does one thing and reports failure as data, so
 * the loop can stop at the first failed step and let the next cycle re-read the world.
 */
export class Executor {
  /** `synchronous_standby_names` the agent wants (written into switchyard.conf on every start). */
  ssn = '';
  #startFailures = 0;
  /**
   * Why this node stays stopped for the operator (pg_rewind failed, or it cannot start on the leader's
   * timeline, and the `remove_data_directory_on_*` option is off); null otherwise. Cleared by a new clone.
   */
  stuck: string | null = null;

  constructor(private readonly d: ExecutorDeps) {}

  #leaderMember(cluster: ClusterState, name: string | null): Member | null {
    return name ? (cluster.members.get(name) ?? null) : null;
  }

  async apply(action: HaAction, ctx: ActionContext): Promise<StepResult> {
    const { config, control, writer } = this.d;
    const name = config.name;
    switch (action.kind) {
      case 'bootstrap': {
        if (!(await writer.raceInitialize()))
          return { ok: false, reason: 'failed to acquire initialize lock' };
        this.d.runTask('bootstrap', 'initializing new cluster', () => this.#bootstrap());
        return { ok: true };
      }
      case 'clone': {
        const src = ctx.cluster.members.get(action.from);
        if (!src) return { ok: false, reason: `member ${action.from} to clone from has no member key` };
        this.stuck = null;
        // A new data directory: failed starts of the one it replaces say nothing about it.
        this.#startFailures = 0;
        this.d.runTask('clone', 'creating replica', () =>
          control.basebackup({ host: src.host, port: src.port }),
        );
        return { ok: true };
      }
      case 'start_primary':
        this.d.runTask('start', 'starting', () =>
          control.start({ standby: false, following: null, synchronousStandbyNames: this.ssn }),
        );
        return { ok: true };
      case 'start_replica': {
        const leader = this.#leaderMember(ctx.cluster, action.leader);
        const following = leader ? followingOf(leader, name) : null;
        // After a failed start as a replica, the next attempt rewinds first: a standby whose timeline
        // forked from the leader's ("requested timeline is not a child of this server's history") cannot
        // start, and its control file does not always show that it wrote past the switch point.
        const rewind = (action.rewind || this.#startFailures > 0) && leader !== null;
        if (this.stuck) return { ok: false, reason: this.stuck };
        this.d.runTask(rewind ? 'rewind' : 'start', 'starting', async () =>
          this.#startReplica(
            rewind || (await this.#wasPrimaryOnDisk()) ? leader : null,
            leader !== null,
            following,
          ),
        );
        return { ok: true };
      }
      case 'follow': {
        const leader = this.#leaderMember(ctx.cluster, action.leader);
        if (!leader) return { ok: false, reason: `leader ${action.leader} has no member key yet` };
        await control.repoint(followingOf(leader, name), '');
        return { ok: true };
      }
      case 'acquire_lock':
        return this.#lead((id) => writer.acquireLeader(name, id), 'failed to acquire the leader lock');
      case 'take_over_own_key':
        return this.#lead((id) => writer.moveLeaderToLease(name, id), 'the leader key no longer names me');
      case 'promote': {
        if (!requestPromotion(control)) await control.promote();
        await awaitPromotion(control, this.d.query, 60_000);
        return { ok: true };
      }
      case 'demote': {
        this.d.onLeadership(false);
        await control.stop(action.mode === 'immediate' ? 'immediate' : 'fast');
        if (action.releaseLock) await writer.releaseLeader(name);
        return { ok: true };
      }
      case 'switchover':
        return this.#switchover(action.candidate, ctx);
      case 'release_after_crash': {
        // PostgreSQL is down (crashed) and the policy says fail over: hand the key to the /sync standby
        // (synchronous mode: it has every acknowledged commit), or release it for a race.
        this.d.onLeadership(false);
        await writer.releaseLeaderWith(
          name,
          null,
          action.candidate !== null ? { leader: name, member: action.candidate } : null,
        );
        return { ok: true };
      }
      case 'clear_failover':
        await writer.clearFailover(action.modRevision);
        return { ok: true };
      case 'write_initialize': {
        const sysid = ctx.obs.local.systemId;
        if (sysid && (ctx.cluster.initialize === null || ctx.cluster.initialize === ''))
          await writer.writeInitialize(sysid);
        if (ctx.cluster.config.modRevision === null) await writer.writeConfig({ ...config.bootstrapDcs }, 0);
        return { ok: true };
      }
      case 'write_status': {
        const wal = ctx.obs.local.walPosition;
        if (wal !== null && wal !== ctx.cluster.optime) await writer.writeStatus(wal);
        await this.#ensureSlots(ctx.cluster);
        return { ok: true };
      }
      case 'write_history':
        await writer.writeHistory(this.#history(ctx));
        return { ok: true };
      case 'write_failsafe': {
        const map: Record<string, string> = {};
        for (const m of ctx.cluster.members.values()) if (m.api) map[m.name] = m.api.url;
        if (JSON.stringify(map) !== JSON.stringify(ctx.cluster.failsafe ?? {}))
          await writer.writeFailsafe(map);
        return { ok: true };
      }
      case 'write_sync': {
        if (!(await writer.writeSync(name, action.standbys, action.modRevision))) {
          return { ok: false, reason: 'Synchronous replication key updated by someone else' };
        }
        return { ok: true };
      }
      case 'set_synchronous_standby_names':
        this.ssn = action.value;
        await control.repoint(null, action.value);
        return { ok: true };
      case 'fatal':
        throw new SwitchyardError('SY_ERR_AGENT', `fatal: ${action.reason}`, { exitCode: 3 });
    }
  }

  /**
   * Starts as a replica, after pg_rewind from `rewindFrom` when given. A failed rewind, or a third failed
   * start, wipes the data directory for a re-clone only when Patroni's `remove_data_directory_on_*` option
   * says so; otherwise the node stays stopped (`stuck`) with the reason in the log and the cycle sentence.
   */
  async #startReplica(
    rewindFrom: Member | null,
    hasLeader: boolean,
    following: Following | null,
  ): Promise<void> {
    const { control, config, log } = this.d;
    const pg = config.postgresql;
    // A base backup never started cannot have diverged, and pg_rewind's crash recovery in single-user mode
    // would end its recovery as a primary's: WAL of its own, ahead of the leader's, on the same timeline.
    if (rewindFrom && !control.isUnstartedBackup()) {
      await control.stop('fast').catch(() => control.stop('immediate'));
      try {
        await control.rewind({ host: rewindFrom.host, port: rewindFrom.port });
      } catch (err) {
        if (err instanceof RewindSourceNotReady || err instanceof OldPostmasterNotGone) {
          log.warn(`${err.message}; rewinding later`);
          return;
        }
        this.#startFailures = 0;
        if (pg.removeDataDirectoryOnRewindFailure) {
          log.warn({ err: describeError(err) }, 'pg_rewind failed; removing the data directory to re-clone');
          control.wipe();
          return;
        }
        this.stuck = `pg_rewind from ${rewindFrom.name} failed (${describeError(err)}); leaving PostgreSQL stopped: reinitialize this member, or set postgresql.remove_data_directory_on_rewind_failure`;
        log.error(this.stuck);
        return;
      }
    }
    try {
      await control.start({ standby: true, following, synchronousStandbyNames: '' });
      this.#startFailures = 0;
    } catch (err) {
      if (err instanceof OldPostmasterNotGone) {
        log.warn(`${err.message}; starting later`);
        return;
      }
      if (++this.#startFailures >= 3 && hasLeader) {
        this.#startFailures = 0;
        await control.stop('immediate').catch(() => undefined);
        if (pg.removeDataDirectoryOnDivergedTimelines) {
          log.warn(
            { err: describeError(err) },
            'PostgreSQL failed to start 3 times; removing the data directory to re-clone',
          );
          control.wipe();
          return;
        }
        this.stuck = `PostgreSQL failed to start as a replica 3 times (${describeError(err)}); leaving it stopped: reinitialize this member, or set postgresql.remove_data_directory_on_diverged_timelines`;
        log.error(this.stuck);
        return;
      }
      throw err;
    }
  }

  /** Takes the leader key on this agent's lease (granted when it has none); leading from then on. */
  async #lead(take: (leaseId: string) => Promise<boolean>, failure: string): Promise<StepResult> {
    const lease = this.d.lease();
    if (!(await take(lease.id ?? (await lease.grant())))) return { ok: false, reason: failure };
    this.d.onLeadership(true);
    return { ok: true };
  }

  /**
   * The data directory was a primary and another node leads now: it crashed as one ('in production',
   * 'shutting down', 'in crash recovery', whatever signal file a failed start left), or was shut down as one
   * (no standby.signal). Its control file does not show where its WAL ends, and `/history` can lag the new
   * leader's promotion: started as a standby it may stream over WAL that pg_rewind needs. So it always goes
   * through pg_rewind (Patroni: crash recovery in single-user mode, then the timeline check), which is a
   * no-op ("no rewind required") when nothing diverged.
   */
  async #wasPrimaryOnDisk(): Promise<boolean> {
    const state = (await this.d.control.controlData())?.state;
    if (this.d.control.isUnstartedBackup()) return false; // a fresh clone: its pg_control is the primary's
    if (state === 'in production' || state === 'shutting down' || state === 'in crash recovery') return true;
    return state === 'shut down' && !this.d.control.isStandbyConfigured();
  }

  async #bootstrap(): Promise<void> {
    const { config, control, query, writer, log } = this.d;
    const lease = this.d.lease();
    try {
      await control.initdb();
      await control.start({ standby: false, following: null, synchronousStandbyNames: '' });
    } catch (err) {
      await control.stop('immediate').catch(() => undefined);
      control.wipe();
      await writer.cancelInitialize().catch(() => false);
      throw err;
    }
    const pg = config.postgresql;
    const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
    const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
    const ensureRole = async (user: string, password: string | undefined, options: string) => {
      const exists = (await query.exec('SELECT 1 FROM pg_roles WHERE rolname = $1', [user])).rowCount;
      const pw = password !== undefined ? ` PASSWORD ${lit(password)}` : '';
      await query.exec(`${exists ? 'ALTER' : 'CREATE'} ROLE ${ident(user)} WITH ${options}${pw}`);
    };
    await ensureRole(pg.replication.username, pg.replication.password, 'LOGIN REPLICATION');
    if (pg.rewind && pg.rewind.username !== pg.superuser.username) {
      await ensureRole(pg.rewind.username, pg.rewind.password, 'LOGIN');
      for (const fn of [
        'pg_ls_dir(text, boolean, boolean)',
        'pg_stat_file(text, boolean)',
        'pg_read_binary_file(text)',
        'pg_read_binary_file(text, bigint, bigint, boolean)',
      ]) {
        await query.exec(`GRANT EXECUTE ON function pg_catalog.${fn} TO ${ident(pg.rewind.username)}`);
      }
    }
    for (const [user, u] of Object.entries(config.bootstrapUsers)) {
      await ensureRole(user, u.password, ['LOGIN', ...u.options.map((o) => o.toUpperCase())].join(' '));
    }
    const status = await query.status();
    const id = lease.id ?? (await lease.grant());
    if (await writer.acquireLeader(config.name, id)) this.d.onLeadership(true);
    await writer.writeInitialize(status.systemId);
    await writer.writeConfig({ ...config.bootstrapDcs }, 0);
    log.info({ systemId: status.systemId }, 'bootstrapped a new cluster');
  }

  /** Physical slots on the leader for every other member; stale inactive ones dropped. */
  async #ensureSlots(cluster: ClusterState): Promise<void> {
    const { query, config } = this.d;
    const wanted = new Set([...cluster.members.keys()].filter((n) => n !== config.name).map(slotName));
    const rows = (
      await query.exec("SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical'")
    ).rows as {
      slot_name: string;
      active: boolean;
    }[];
    const have = new Set(rows.map((r) => r.slot_name));
    for (const slot of wanted) {
      if (!have.has(slot)) await query.exec('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
    }
    for (const r of rows) {
      if (!wanted.has(r.slot_name) && !r.active)
        await query.exec('SELECT pg_drop_replication_slot($1)', [r.slot_name]);
    }
  }

  #history(ctx: ActionContext): (number | string | null)[][] {
    const tl = ctx.obs.local.timeline ?? 1;
    const existing = new Map(ctx.cluster.history.map((l) => [l[0] as number, [...l]]));
    return this.d.control
      .timelineHistory(tl)
      .map((h) => existing.get(h.timeline) ?? [h.timeline, h.lsn, h.reason, pyNow(), this.d.config.name]);
  }

  /** Planned switchover, leader side: see {@link handOver}. */
  #switchover(candidate: string | null, ctx: ActionContext): Promise<StepResult> {
    return handOver(
      {
        name: this.d.config.name,
        postgres: this.d.control,
        writer: this.d.writer,
        log: this.d.log,
        dropConnections: () => this.d.query.reset(),
        checkpoint: () => this.d.earlyCheckpoint?.() ?? this.d.query.exec('CHECKPOINT'),
        stepDown: () => this.d.onLeadership(false),
        beforeStop: (waitMs, candidate) => this.d.writer.announceStop(this.d.config.name, waitMs, candidate),
      },
      ctx.cluster,
      candidate,
      ctx.obs.local.walPosition,
    );
  }
}
