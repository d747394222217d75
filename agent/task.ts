import { describeError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import type { CycleLoop } from './loop.js';

export interface Task {
  readonly name: string;
  /** The member key's `state` while it runs (`creating replica`, `starting`, ...). */
  readonly state: string;
  readonly promise: Promise<string | null>;
}

/**
 * At most one long step (bootstrap, clone, start, rewind, restart, reinit) at a time, run in the background
 * while cycles keep renewing the lease and publishing the member key.
 */
export class TaskSlot {
  current: Task | null = null;

  constructor(
    private readonly log: Logger,
    private readonly onSuccess: () => void,
  ) {}

  /**
   * Resolves with the step's error message, or null on success. Never two at once: while one runs, another
   * is refused with a message (callers check `current` first; this is the last guard).
   */
  run(name: string, state: string, fn: () => Promise<void>): Promise<string | null> {
    if (this.current) {
      this.log.error({ task: name }, `${name} not started: ${this.current.name} in progress`);
      return Promise.resolve(`${this.current.name} in progress`);
    }
    const promise = fn().then(
      () => {
        this.log.info({ task: name }, `${name} finished`);
        this.current = null;
        this.onSuccess();
        return null;
      },
      (err: unknown) => {
        // No wake-up: the next regular cycle retries, so a failing step is not retried in a tight loop.
        this.log.error({ task: name, err: describeError(err) }, `${name} failed`);
        this.current = null;
        return describeError(err);
      },
    );
    this.current = { name, state, promise };
    return promise;
  }
}

export type TaskStart =
  { isStarted: false; busy: string } | { isStarted: true; done: Promise<string | null> };

/**
 * Starts a long step between two HA cycles, so no cycle decides from an observation taken while the step
 * changed PostgreSQL under it. Refused while another step runs, unless `force`: then it starts once that
 * one has ended. `done` resolves with the step's error message, or null on success.
 */
export async function startBetweenCycles(
  slot: TaskSlot,
  loop: Pick<CycleLoop, 'between'>,
  step: { name: string; state: string; fn: () => Promise<void>; force: boolean },
): Promise<TaskStart> {
  for (;;) {
    const running = await loop.between(
      () => slot.current ?? { done: slot.run(step.name, step.state, step.fn) },
    );
    if ('done' in running) return { isStarted: true, done: running.done };
    if (!step.force) return { isStarted: false, busy: running.name };
    await running.promise;
  }
}
