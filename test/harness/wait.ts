/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** Give up after this many milliseconds (default 10,000). */
  timeoutMs?: number;
  /** Pause between attempts (default 100 ms). */
  intervalMs?: number;
  /** What is awaited, for the error message ("etcd member 0 to answer"). */
  what: string;
  /** Extra text appended to the timeout message, computed at timeout (e.g. a log tail). */
  diagnose?: () => string | Promise<string>;
}

/**
 * Throw this from a {@link waitFor} callback to stop waiting at once (e.g. the awaited process
 * exited); waitFor rethrows it with `what` and the diagnosis added to the message.
 */
export class WaitAbortedError extends Error {
  override readonly name = 'WaitAbortedError';
  readonly aborted = true;
}

/** Thrown by {@link waitFor} when the condition did not hold in time; `lastValue`/`lastError` keep the last attempt. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  readonly timedOut = true;
  constructor(
    message: string,
    readonly lastValue: unknown,
    readonly lastError: unknown,
  ) {
    super(message, lastError === undefined ? undefined : { cause: lastError });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 500 ? `${text.slice(0, 500)}…` : text;
  } catch {
    return String(value);
  }
}

/**
 * Calls `fn` until it returns a truthy value, and returns that value. A throw counts as "not yet",
 * except {@link WaitAbortedError}, which ends the wait at once.
 * Bounded by `timeoutMs` (each attempt is not interrupted, so a hanging `fn` must bound itself);
 * on timeout throws {@link WaitTimeoutError} naming `what` and the last value or error.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, options: WaitOptions): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastValue: unknown;
  let lastError: unknown;
  let attempts = 0;
  while (true) {
    attempts++;
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      lastValue = value;
      lastError = undefined;
    } catch (error) {
      if (error instanceof WaitAbortedError) {
        error.message = `gave up waiting for ${options.what}: ${error.message}${await diagnosis(options)}`;
        throw error;
      }
      lastError = error;
    }
    if (Date.now() + intervalMs > deadline) break;
    await sleep(intervalMs);
  }
  let message =
    `timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${options.what}; last ` +
    (lastError !== undefined ? `error: ${describe(lastError)}` : `value: ${describe(lastValue)}`);
  message += await diagnosis(options);
  throw new WaitTimeoutError(message, lastValue, lastError);
}

async function diagnosis(options: WaitOptions): Promise<string> {
  if (!options.diagnose) return '';
  try {
    return `\n${await options.diagnose()}`;
  } catch (error) {
    return `\n(diagnose failed: ${describe(error)})`;
  }
}
