import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '../config/load.js';
import {
  agentParameters,
  appendPgHba,
  hasStandbySignal,
  isDataDirEmpty,
  setStandbySignal,
  userParameters,
  writeAgentConf,
  writeInitdbPasswordFile,
  writePgHba,
  writePgpass,
  type Following,
} from './files.js';
import { parseControlData, parseTimelineHistory, type ControlData } from './lsn.js';
import { check, resolvePgUser, runPg, type PgOsUser } from './run.js';
import { readKnownParameters, type KnownParameters } from './parameters.js';
import { createLogger, type Logger } from '../../src/log.js';
import { assertOwnedDataDir, prepareDataDir } from './data-dir.js';
import { prepareRewindSource } from './rewind-source.js';
import { awaitOldPostmasterExit, isAlive, isPostmasterOf, readPostmasterPid } from './postmaster.js';

/** `postgresql.parameters` of a dynamic configuration object. */
export function dcsPgParameters(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const pg = config['postgresql'];
  const params = pg && typeof pg === 'object' ? (pg as Record<string, unknown>)['parameters'] : undefined;
  return params && typeof params === 'object' ? (params as Record<string, unknown>) : {};
}

/** pg_controldata states pg_rewind accepts without a crash recovery first. */
const CLEAN_SHUTDOWN = new Set(['shut down', 'shut down in recovery']);

export type StopMode = 'fast' | 'immediate' | 'smart';

/**
 * Starts, stops, promotes, creates and repairs one PostgreSQL data directory with the PostgreSQL binaries,
 * running them as the data directory's owner (see `resolvePgUser`). Every call is bounded in time and
 * throws SY_ERR_AGENT naming the step that failed.
 */
export class PgControl {
  readonly user: PgOsUser | null;
  readonly dataDir: string;
  readonly logFile: string;
  #dcsParameters: Readonly<Record<string, unknown>> = {};
  #known: Promise<KnownParameters | null> | null = null;
  #reported = '';
  /** What the last start/repoint wrote, so a configuration reload can rewrite switchyard.conf alike. */
  #last: { following: Following | null; synchronousStandbyNames: string } | null = null;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger = createLogger({ name: `agent:${config.name}` }),
  ) {
    this.dataDir = config.postgresql.dataDir;
    this.user = resolvePgUser(this.dataDir);
    this.logFile = `${this.dataDir}.log`;
  }

  #run(cmd: string, args: string[], timeoutMs: number) {
    return runPg(this.config.postgresql.binDir, cmd, args, {
      user: this.user,
      timeoutMs,
      env: { PGPASSFILE: this.config.postgresql.pgpass, PGCONNECT_TIMEOUT: '3' },
    });
  }

  /** PostgreSQL parameters from `/config` (postgresql.parameters), applied at the next start. */
  setDcsParameters(params: Readonly<Record<string, unknown>>): void {
    this.#dcsParameters = params;
  }

  /**
   * Parameters for switchyard.conf: the user's, validated against this server's own parameter list
   * (`postgres --describe-config`, read once); each dropped one is logged once per change of the set.
   */
  async #parameters(following: Following | null, synchronousStandbyNames: string) {
    this.#known ??= readKnownParameters(this.config.postgresql.binDir, this.user).catch(() => null);
    const known = await this.#known;
    const { dropped } = userParameters(this.config, this.#dcsParameters, known);
    const report = dropped.join('\n');
    if (report !== this.#reported) for (const line of dropped) this.log.warn(line);
    this.#reported = report;
    return agentParameters(this.config, this.#dcsParameters, following, synchronousStandbyNames, known);
  }

  isDataDirEmpty(): boolean {
    return isDataDirEmpty(this.dataDir);
  }

  isStandbyConfigured(): boolean {
    return hasStandbySignal(this.dataDir);
  }

  /** A base backup never started yet: its pg_control says "in production", as the primary's did. */
  isUnstartedBackup(): boolean {
    return existsSync(join(this.dataDir, 'backup_label'));
  }

  /** The postmaster of this data directory is alive (see `livePostmasterPid`). */
  isRunning(): boolean {
    return this.livePostmasterPid() !== null;
  }

  /** The pid in postmaster.pid, unchecked (null when the file is missing or unreadable). */
  postmasterPid(): number | null {
    return readPostmasterPid(this.dataDir);
  }

  /**
   * The pid in postmaster.pid when it is this data directory's postmaster: alive, not a zombie, and its
   * command line is a postgres started on this data directory. A stale pid file (PostgreSQL killed -9) or
   * a pid reused by another process is not "PostgreSQL running".
   */
  livePostmasterPid(): number | null {
    const pid = this.postmasterPid();
    return pid !== null && isPostmasterOf(pid, this.dataDir) ? pid : null;
  }

  async controlData(): Promise<ControlData | null> {
    if (this.isDataDirEmpty()) return null;
    const res = await this.#run('pg_controldata', ['-D', this.dataDir], 10_000);
    return res.exitCode === 0 ? parseControlData(res.output) : null;
  }

  #prepareDir(): void {
    prepareDataDir(this.dataDir, this.user);
    writePgpass(this.config, this.user);
  }

  /** initdb with `bootstrap.initdb` options; bootstrap.pg_hba lines go first in pg_hba.conf. */
  async initdb(): Promise<void> {
    this.#prepareDir();
    const su = this.config.postgresql.superuser;
    const pwfile = writeInitdbPasswordFile(this.dataDir, this.config.name, su.password ?? '', this.user);
    try {
      const args = [
        '-D',
        this.dataDir,
        '-U',
        su.username,
        ...(su.password ? [`--pwfile=${pwfile}`] : []),
        ...this.config.initdbArgs,
      ];
      check('initdb', await this.#run('initdb', args, 120_000));
    } finally {
      rmSync(pwfile, { force: true });
    }
    if (this.config.postgresql.pgHba) writePgHba(this.dataDir, this.config.postgresql.pgHba, this.user);
    else appendPgHba(this.dataDir, this.config.bootstrapPgHba, this.user);
  }

  /** pg_basebackup from `source` into an empty data directory (re-created when it exists). */
  async basebackup(source: { host: string; port: number }): Promise<void> {
    this.wipe();
    this.#prepareDir();
    const rep = this.config.postgresql.replication;
    const args = [
      '-D',
      this.dataDir,
      '-h',
      source.host,
      '-p',
      String(source.port),
      '-U',
      rep.username,
      '-X',
      'stream',
      '-c',
      'fast',
      '-w',
      '--no-password',
    ];
    const res = await this.#run('pg_basebackup', args, 600_000);
    if (res.exitCode !== 0) this.wipe();
    check('pg_basebackup', res);
  }

  /** Deletes the data directory's contents (reinit, failed clone). */
  wipe(): void {
    if (!existsSync(this.dataDir)) return;
    // A data directory swapped for a symlink to a root-owned directory must not empty that directory.
    assertOwnedDataDir(this.dataDir, this.user);
    for (const entry of readdirSync(this.dataDir))
      rmSync(join(this.dataDir, entry), { recursive: true, force: true });
  }

  /**
   * pg_rewind from the leader in Patroni's order (rewind.py): source checked and checkpointed
   * (RewindSourceNotReady: "not yet", never "failed"); signal files removed, since single-user mode
   * refuses standby.signal; a data directory not shut down cleanly crash-recovered by `postgres --single`
   * with `archive_command=false` (diverged WAL never archived); pg_rewind; standby.signal back whatever
   * the outcome. Throws SY_ERR_AGENT naming the failed step; the caller decides whether to re-clone.
   */
  async rewind(source: { host: string; port: number }): Promise<void> {
    const pgc = this.config.postgresql;
    const cred = pgc.rewind ?? pgc.superuser;
    const checkSource = () =>
      prepareRewindSource(source, cred, pgc.database, cred.username === pgc.superuser.username);
    await checkSource();
    await awaitOldPostmasterExit(this.dataDir);
    rmSync(join(this.dataDir, 'recovery.signal'), { force: true });
    setStandbySignal(this.dataDir, false, this.user);
    try {
      const state = (await this.controlData())?.state;
      if (state !== undefined && !CLEAN_SHUTDOWN.has(state)) {
        const args = ['--single', '-D', this.dataDir, '-c', 'archive_mode=on', '-c', 'archive_command=false'];
        check(
          `crash recovery in single-user mode (state "${state}")`,
          await this.#run('postgres', [...args, 'template1'], 300_000),
        );
      }
      const conn = `host=${source.host} port=${source.port} user=${cred.username} dbname=${pgc.database} connect_timeout=3`;
      const res = await this.#run('pg_rewind', ['-D', this.dataDir, `--source-server=${conn}`], 300_000);
      // A source that went away or back into recovery meanwhile is no verdict on this data directory.
      if (res.exitCode !== 0) await checkSource();
      check('pg_rewind', res);
    } finally {
      setStandbySignal(this.dataDir, true, this.user);
    }
  }

  /** Writes configuration and starts PostgreSQL (as primary, or in recovery following `following`). */
  async start(options: {
    standby: boolean;
    following: Following | null;
    synchronousStandbyNames: string;
    timeoutS?: number;
  }): Promise<void> {
    await awaitOldPostmasterExit(this.dataDir);
    writePgpass(this.config, this.user);
    if (this.config.postgresql.pgHba) writePgHba(this.dataDir, this.config.postgresql.pgHba, this.user);
    this.#last = { following: options.following, synchronousStandbyNames: options.synchronousStandbyNames };
    writeAgentConf(
      this.dataDir,
      await this.#parameters(options.following, options.synchronousStandbyNames),
      this.user,
    );
    setStandbySignal(this.dataDir, options.standby, this.user);
    rmSync(join(this.dataDir, 'recovery.signal'), { force: true });
    const t = String(options.timeoutS ?? 60);
    const res = await this.#run(
      'pg_ctl',
      ['start', '-D', this.dataDir, '-l', this.logFile, '-w', '-t', t, '-s'],
      (options.timeoutS ?? 60) * 1000 + 5000,
    );
    if (res.exitCode !== 0) {
      // pg_ctl only says "Examine the log output": put the server's own last words in the error.
      const tail = this.logTail(4) || `(no server log in ${this.logFile})`;
      check('pg_ctl start', { exitCode: res.exitCode, output: `${res.output}\n${tail}` });
    }
  }

  /** Rewrites primary_conninfo/slot and reloads: PostgreSQL ≥ 13 repoints the walreceiver without restart. */
  async repoint(following: Following | null, synchronousStandbyNames: string): Promise<void> {
    this.#last = { following, synchronousStandbyNames };
    writeAgentConf(this.dataDir, await this.#parameters(following, synchronousStandbyNames), this.user);
    await this.reload();
  }

  /**
   * After the agent's YAML was reloaded: rewrites pg_hba.conf (when `postgresql.pg_hba` is set) and
   * switchyard.conf as the last start/repoint did, then reloads PostgreSQL. False when it is not running
   * (the next start writes them). Parameters that need a restart stay pending, as PostgreSQL reports.
   */
  async rewriteConf(): Promise<boolean> {
    const last = this.#last;
    if (!last || !this.isRunning()) return false;
    if (this.config.postgresql.pgHba) writePgHba(this.dataDir, this.config.postgresql.pgHba, this.user);
    writeAgentConf(
      this.dataDir,
      await this.#parameters(last.following, last.synchronousStandbyNames),
      this.user,
    );
    await this.reload();
    return true;
  }

  async reload(): Promise<void> {
    check('pg_ctl reload', await this.#run('pg_ctl', ['reload', '-D', this.dataDir, '-s'], 15_000));
  }

  /**
   * Stops PostgreSQL: the shutdown signal goes straight to the postmaster (fast = SIGINT, immediate =
   * SIGQUIT, smart = SIGTERM) and its exit is polled every 10 ms, instead of pg_ctl's 100 ms steps — a
   * switchover waits on this. Falls back to pg_ctl when there is no live postmaster.pid.
   */
  async stop(mode: StopMode, timeoutS = 60): Promise<void> {
    const pid = this.livePostmasterPid();
    if (pid === null) return;
    const signal = mode === 'fast' ? 'SIGINT' : mode === 'immediate' ? 'SIGQUIT' : 'SIGTERM';
    let sent = false;
    try {
      if (pid !== null) sent = process.kill(pid, signal);
    } catch {
      sent = false;
    }
    if (sent && pid !== null) {
      const deadline = Date.now() + timeoutS * 1000;
      while (Date.now() < deadline) {
        if (!isAlive(pid)) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const res = await this.#run(
      'pg_ctl',
      ['stop', '-D', this.dataDir, '-m', mode, '-w', '-t', String(timeoutS), '-s'],
      timeoutS * 1000 + 5000,
    );
    if (res.exitCode !== 0 && this.isRunning()) check(`pg_ctl stop -m ${mode}`, res);
  }

  /** SIGQUIT to the postmaster: immediate shutdown, the fastest way to stop accepting writes. */
  fence(): boolean {
    const pid = this.livePostmasterPid();
    if (pid === null) return false;
    try {
      process.kill(pid, 'SIGQUIT');
      return true;
    } catch {
      return false;
    }
  }

  /** `pg_ctl promote` without its 100 ms wait steps; the caller polls `pg_is_in_recovery()` (see PgQuery). */
  async promote(): Promise<void> {
    check('pg_ctl promote', await this.#run('pg_ctl', ['promote', '-D', this.dataDir, '-W', '-s'], 30_000));
  }

  /**
   * Highest timeline with a history file in pg_wal: the timeline a standby with recovery_target_timeline
   * = latest follows, even while its walreceiver is down and before a restartpoint updated pg_control.
   */
  latestHistoryTimeline(): number {
    try {
      let max = 0;
      for (const f of readdirSync(join(this.dataDir, 'pg_wal'))) {
        const m = /^([0-9A-F]{8})\.history$/.exec(f);
        if (m) max = Math.max(max, parseInt(m[1] as string, 16));
      }
      return max;
    } catch {
      return 0;
    }
  }

  /** Last lines of the PostgreSQL server log (for error messages). */
  logTail(lines: number): string {
    try {
      return readFileSync(this.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Lines of `pg_wal/<timeline>.history`, or [] for timeline 1 / a missing file. */
  timelineHistory(timeline: number): { timeline: number; lsn: number; reason: string }[] {
    const file = join(
      this.dataDir,
      'pg_wal',
      `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`,
    );
    try {
      return parseTimelineHistory(readFileSync(file, 'utf8'));
    } catch {
      return [];
    }
  }
}
