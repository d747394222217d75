import { chownSync, existsSync, statSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterState } from '../../src/cluster/index.js';
import type { ClusterWriter } from '../../src/dcs/cluster-writer.js';
import type { Logger } from '../../src/log.js';

/**
 * `pg_ctl promote` without starting a process: the `promote` signal file in the data directory (owned like
 * the directory) and SIGUSR1 to the postmaster, which is what pg_ctl does. False when either step failed
 * (the caller falls back to pg_ctl).
 */
export function requestPromotion(pg: Pick<HandoverPostgres, 'dataDir' | 'livePostmasterPid'>): boolean {
  const pid = pg.livePostmasterPid();
  if (pid === null) return false;
  try {
    const file = join(pg.dataDir, 'promote');
    writeFileSync(file, '');
    const st = statSync(pg.dataDir);
    chownSync(file, st.uid, st.gid);
    return process.kill(pid, 'SIGUSR1');
  } catch {
    return false;
  }
}

/** How often a promotion that has not finished is woken again (see {@link nudgePromotion}). */
const PROMOTION_NUDGE_MS = 100;

/**
 * Wakes a promotion PostgreSQL has not finished.
 * - While the `promote` file is still there (not acted on yet): SIGUSR1 to the postmaster again.
 * - Once the file is gone, the startup process has taken the request, and can still sleep out
 *   `wal_retrieve_retry_interval` (5 s by default) before it ends recovery. That happens when the request
 *   arrives while a walreceiver start is pending (the old primary just went away, so the startup process has
 *   asked the postmaster for a new walreceiver that is not running yet): PostgreSQL's
 *   `WaitForWALToBecomeAvailable` cancels that start and sleeps, and no process is left to wake it. Seen as
 *   promotions of 5.0–5.15 s in about 1 of 80 switchovers. SIGUSR2 to the startup process, which is what the
 *   postmaster sends it for a promote request, sets its latch and ends the sleep; a promotion already under
 *   way ignores it.
 */
async function nudgePromotion(pg: PromotingPostgres, query: PromotionQuery): Promise<void> {
  const postmaster = pg.livePostmasterPid();
  if (postmaster === null) return;
  const fileThere = existsSync(join(pg.dataDir, 'promote'));
  const pid = fileThere ? postmaster : await query.startupPid();
  if (pid === null) return;
  try {
    process.kill(pid, fileThere ? 'SIGUSR1' : 'SIGUSR2');
  } catch {
    // gone meanwhile: the next round looks again
  }
}

type PromotingPostgres = Pick<HandoverPostgres, 'dataDir' | 'livePostmasterPid'>;
interface PromotionQuery {
  waitForPromotion(timeoutMs: number): Promise<void>;
  startupPid(): Promise<number | null>;
}

/**
 * Waits until PostgreSQL has left recovery after a promote request, waking it every
 * {@link PROMOTION_NUDGE_MS} while it has not; throws after `timeoutMs`.
 */
export async function awaitPromotion(
  pg: PromotingPostgres,
  query: PromotionQuery,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await query.waitForPromotion(Math.min(PROMOTION_NUDGE_MS, Math.max(1, deadline - Date.now())));
      return;
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await nudgePromotion(pg, query);
    }
  }
}

/** The parts of PgControl a handover needs. */
export interface HandoverPostgres {
  readonly dataDir: string;
  livePostmasterPid(): number | null;
  stop(mode: 'fast' | 'immediate', timeoutS?: number): Promise<void>;
}

export interface HandoverDeps {
  readonly name: string;
  readonly postgres: HandoverPostgres;
  readonly writer: Pick<ClusterWriter, 'releaseLeaderWith'>;
  readonly log: Logger;
  /** Drops the agent's own connections (alongside the fast shutdown, which would end them anyway). */
  readonly dropConnections: () => Promise<void>;
  /** CHECKPOINT while still primary, so the shutdown checkpoint (inside the unwritable window) is short. */
  readonly checkpoint: () => Promise<unknown>;
  /** Called before PostgreSQL is stopped: this node no longer acts as primary. */
  readonly stepDown: () => void;
  /**
   * The stop handshake with `switchyard switchover` (`src/dcs/drain.ts`): waits at most `waitMs` until
   * the command has paused its poolers, when it armed the handshake for this node; names the candidate,
   * so the command can point the paused poolers at it during the stop. Returns what happened.
   */
  readonly beforeStop: (waitMs: number, candidate: string | null) => Promise<string>;
}

/**
 * Resolves when `postmaster.pid` is gone from `dataDir` (the postmaster removes it as its very last step of
 * a clean shutdown), woken by the file system, not by polling; false after `timeoutMs`.
 */
export function waitForPidFileRemoval(dataDir: string, timeoutMs: number): Promise<boolean> {
  const file = join(dataDir, 'postmaster.pid');
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watcher?.close();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(!existsSync(file)), timeoutMs);
    let watcher: ReturnType<typeof watch> | null = null;
    try {
      watcher = watch(dataDir, (_event, name) => {
        if ((name === null || name === 'postmaster.pid') && !existsSync(file)) finish(true);
      });
      watcher.on('error', () => undefined);
    } catch {
      // no inotify: the timeout (and the caller's fallback) decides
    }
    if (!existsSync(file)) finish(true);
  });
}

/**
 * Fast shutdown of the local primary, waited for by the pid file's removal. When this returns, every
 * connected streaming standby has flushed all WAL up to and including the shutdown checkpoint: a walsender
 * in a shutting-down primary exits only after its standby confirmed flushing everything it sent (PostgreSQL's
 * `WalSndDone`), and the postmaster exits only after its walsenders.
 */
export async function stopForHandover(pg: HandoverPostgres, timeoutMs: number): Promise<void> {
  const pid = pg.livePostmasterPid();
  if (pid !== null) {
    let sent = false;
    try {
      sent = process.kill(pid, 'SIGINT');
    } catch {
      sent = false;
    }
    if (sent && (await waitForPidFileRemoval(pg.dataDir, timeoutMs))) return;
  }
  // No signal delivered, or no exit in time: the bounded stop (fast, then immediate) decides.
  await pg.stop('fast', Math.ceil(timeoutMs / 1000)).catch(() => pg.stop('immediate'));
}

/**
 * Planned switchover, leader side: CHECKPOINT (still writable, like Patroni's graceful demote), stop being primary, fast shutdown (waited for without polling), then in one
 * etcd transaction the last known optime, `/failover` naming the candidate, and the leader key's deletion.
 * The candidate needs no confirmation round: the shutdown itself waited for the streaming standbys (see
 * {@link stopForHandover}), and in synchronous mode every acknowledged commit was on the `/sync` standby anyway.
 */
export async function handOver(
  d: HandoverDeps,
  cluster: ClusterState,
  candidate: string | null,
  optime: number | null,
): Promise<{ ok: true; note: string }> {
  const t0 = Date.now();
  await d
    .checkpoint()
    .catch((err: unknown) => d.log.warn({ err: String(err) }, 'CHECKPOINT before the switchover failed'));
  const checkpointedAt = Date.now();
  // Still primary and writable; a poller paused now meets no fast shutdown. Bounded well inside the lease.
  const handshake = await d
    .beforeStop(Math.min(2000, cluster.config.ttl * 250), candidate)
    .catch((err: unknown) => `etcd: ${String(err)}`);
  const announcedAt = Date.now();
  d.stepDown();
  // Clients are paused from here on: signal at once. The agent's own connections are dropped alongside
  // (a fast shutdown ends them anyway; waiting for them first cost every switchover a few ms of pause).
  const dropped = d.dropConnections();
  await stopForHandover(d.postgres, Math.max(10_000, cluster.config.retryTimeout * 1000));
  await dropped;
  const stoppedAt = Date.now();
  await d.writer.releaseLeaderWith(
    d.name,
    optime,
    candidate !== null ? { leader: d.name, member: candidate } : null,
  );
  d.log.info(
    {
      checkpointMs: checkpointedAt - t0,
      handshake,
      handshakeMs: announcedAt - checkpointedAt,
      stopMs: stoppedAt - announcedAt,
      releaseMs: Date.now() - stoppedAt,
      candidate,
    },
    'switchover: leader key released',
  );
  return { ok: true, note: candidate ? `handed over to ${candidate}` : 'released for a race' };
}
