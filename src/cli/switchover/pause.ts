import { describeError } from '../../errors.js';
import type { PgBouncerTarget } from '../../targets/pgbouncer/index.js';
import { removeMarker, writeMarker } from '../../targets/pgbouncer/marker.js';
import { SwitchoverError, sleep, type Steps } from './common.js';

/**
 * The PgBouncer side of a switchover: PAUSE the cluster's write databases (with the marker that tells a
 * running router the pause is held by a live command), RESUME them on every exit path. Never leaves a
 * database paused that it paused.
 */
export class PauseWindow {
  private pausedAt: number | null = null;

  constructor(
    private readonly target: PgBouncerTarget,
    private readonly output: string,
    private readonly cluster: string,
    /** The leader this switchover moves away from (in the marker, for a running router). */
    private readonly from: string,
    private readonly databases: readonly string[],
    private readonly steps: Steps,
  ) {}

  get isPaused(): boolean {
    return this.pausedAt !== null;
  }

  /** ms since the PAUSE was sent (0 before). */
  get elapsed(): number {
    return this.pausedAt === null ? 0 : Date.now() - this.pausedAt;
  }

  /**
   * PAUSE every database, each waiting at most `pauseMs` for its running transactions. A stalled PAUSE
   * is cancelled by the control; then this throws and nothing must be requested from Patroni.
   */
  async pause(deadlineAt: number, pauseMs: number, options: { isRequested?: boolean } = {}): Promise<void> {
    await writeMarker(this.output, {
      cluster: this.cluster,
      from: this.from,
      databases: [...this.databases],
      deadlineAt: deadlineAt + 5000,
    });
    this.pausedAt = Date.now();
    const outcomes = await Promise.all(
      this.databases.map((db) => this.target.control.pause(db, pauseMs).then((o) => ({ db, o }))),
    );
    const stalled = outcomes.filter(({ o }) => !o.isPaused);
    if (stalled.length > 0) {
      throw new SwitchoverError(
        `PAUSE of ${stalled.map((s) => s.db).join(', ')} stalled after ${pauseMs} ms (a long transaction holds a server connection); ${options.isRequested ? 'the switchover goes on without the pause' : 'no switchover was requested'}`,
      );
    }
    this.steps.say(
      `paused ${this.databases.join(', ')} (PAUSE took ${Math.max(...outcomes.map(({ o }) => o.ms))} ms)`,
    );
  }

  /** RESUME after a successful repoint (errors propagate: the caller's `finally` retries). */
  async resume(): Promise<void> {
    for (const db of this.databases) await this.target.control.resume(db);
    this.pausedAt = null;
  }

  /** RESUME every database, a few bounded attempts each; used on every failure path. */
  async resumeAll(): Promise<void> {
    if (this.pausedAt === null) return;
    for (const db of this.databases) {
      for (let attempt = 1; attempt <= 3; attempt++) {
        try {
          const wasPaused = await this.target.control.resume(db);
          this.steps.say(wasPaused ? `resumed ${db}` : `${db} was not paused`);
          break;
        } catch (err) {
          this.steps.say(`RESUME ${db} failed (attempt ${attempt}/3): ${describeError(err)}`);
          if (attempt < 3) await sleep(500);
        }
      }
    }
    this.pausedAt = null;
  }

  async removeMarker(): Promise<void> {
    await removeMarker(this.output).catch(() => undefined);
  }
}
