import { monotonicMs } from '../src/dcs/lease.js';

export interface CycleLoopOptions {
  /** One HA cycle. */
  readonly cycle: () => Promise<unknown>;
  /** A cycle threw (the loop carries on unless `halt` was called). */
  readonly onError: (err: unknown) => void;
  /** How long to sleep after a cycle that started at `startedAt` (monotonic ms). */
  readonly sleepMs: (startedAt: number) => number;
}

/**
 * Runs cycles one at a time: every loop_wait, or at once when woken (an event during a cycle is not lost:
 * the next cycle starts right after). Also lets callers wait for the next leader key event.
 */
export class CycleLoop {
  #stopped = false;
  #wake: (() => void) | null = null;
  #wakePending = false;
  #running: Promise<void> | null = null;
  #inCycle = false;
  readonly #leaderWaiters = new Set<() => void>();

  constructor(private readonly o: CycleLoopOptions) {}

  get isStopped(): boolean {
    return this.#stopped;
  }

  /** The cycle in progress, if any. */
  get running(): Promise<void> | null {
    return this.#running;
  }

  /**
   * Runs `fn` between two cycles: after the cycle in progress (if any) has ended and before the next one
   * starts. The next cycle starts from a timer, so a synchronous `fn` cannot interleave with one.
   */
  async between<T>(fn: () => T): Promise<T> {
    while (this.#inCycle) await this.#running;
    return fn();
  }

  start(): void {
    void this.#run();
  }

  /** No further cycle starts (the current one runs to its end). */
  halt(): void {
    this.#stopped = true;
    this.wake();
  }

  /** Runs the next cycle now, or right after the current one. */
  wake(): void {
    if (this.#wake) this.#wake();
    else this.#wakePending = true;
  }

  /** The leader key changed: releases everyone waiting in `onLeaderEvent`. */
  leaderChanged(): void {
    for (const fn of this.#leaderWaiters) fn();
  }

  /** Resolves when the leader key changes (or after `ms`). */
  onLeaderEvent(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#leaderWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#leaderWaiters.add(done);
    });
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const started = monotonicMs();
      this.#wakePending = false;
      this.#inCycle = true;
      this.#running = this.o.cycle().then(() => undefined, this.o.onError);
      await this.#running;
      this.#inCycle = false;
      if (this.#stopped) break;
      const wait = this.#wakePending ? 0 : this.o.sleepMs(started);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(2 ** 31 - 1, wait));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#wake = done;
      });
      this.#wake = null;
    }
  }
}

/** Waits for `p`, at most `ms` (a step of a bounded shutdown; its late result is ignored). */
export async function within(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.then(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
