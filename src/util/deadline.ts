/** A request's abort signal: fires at its deadline or when the caller's signal aborts, whichever comes first. */
export interface Deadline {
  readonly signal: AbortSignal;
  /** True once the deadline (not the caller) aborted the signal. */
  readonly isPast: () => boolean;
  /** Clears the timer and the listener on the caller's signal; call it in `finally`. */
  readonly done: () => void;
}

/**
 * One controller per request, its listener on the caller's signal removed by `done()`: a long-lived
 * caller's signal collects no per-request state (an etcd v2 watch issues one request per event for
 * months). Used by the HTTP clients (etcd's v2 API, Patroni's REST API).
 */
export function deadline(timeoutMs: number, caller?: AbortSignal): Deadline {
  const controller = new AbortController();
  let isPast = false;
  const timer = setTimeout(() => {
    isPast = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  caller?.addEventListener('abort', onAbort, { once: true });
  if (caller?.aborted) controller.abort();
  return {
    signal: controller.signal,
    isPast: () => isPast,
    done: () => {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    },
  };
}
