/**
 * A one-at-a-time queue: each task starts after the previous one settled (resolved or threw), in call
 * order. A failed task rejects its own caller only; the queue goes on. Used wherever a target's apply,
 * its timers and its close must never interleave (PgBouncer admin commands, HAProxy file writes, the VIP's cycles).
 */
export interface Serial {
  <T>(task: () => Promise<T>): Promise<T>;
  /** Resolves once every task queued so far has settled. */
  idle(): Promise<void>;
}

export function serial(): Serial {
  let tail: Promise<unknown> = Promise.resolve();
  const run = <T>(task: () => Promise<T>): Promise<T> => {
    const result = tail.then(task);
    tail = result.catch(() => undefined);
    return result;
  };
  return Object.assign(run, { idle: () => tail.then(() => undefined) });
}
