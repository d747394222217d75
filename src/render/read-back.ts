import { SwitchyardError, describeError } from '../errors.js';

/** One read of what the running program uses: the value once it matches the file, else why not. */
export type ReadBackResult<T> = { readonly value: T } | { readonly problem: string };

export interface ReadBackOptions<T> {
  read(): Promise<ReadBackResult<T>>;
  /** How long a reload may take to show; 0 = one read (the reload was synchronous). */
  readonly timeoutMs: number;
  readonly pollMs: number;
  /** A read that throws is a problem to retry (`true`), or rethrown at once (`false`). */
  readonly isReadErrorRetried: boolean;
  /** The SY_ERR_RELOAD_FAILED message for the last problem (default: the problem itself). */
  failure?(problem: string): string;
}

/**
 * The last step of a file target's pipeline (render → staged write → check → swap → reload → read back):
 * reads the running state until it matches the file, bounded by `timeoutMs` (a reload by signal or
 * command is asynchronous), and throws SY_ERR_RELOAD_FAILED with the last problem when it never does.
 */
export async function readBackUntilApplied<T>(o: ReadBackOptions<T>): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  let problem = 'no answer';
  while (true) {
    try {
      const result = await o.read();
      if ('value' in result) return result.value;
      problem = result.problem;
    } catch (err) {
      if (!o.isReadErrorRetried) throw err;
      problem = describeError(err);
    }
    if (Date.now() >= deadline)
      throw new SwitchyardError('SY_ERR_RELOAD_FAILED', o.failure?.(problem) ?? problem);
    await new Promise((r) => setTimeout(r, o.pollMs));
  }
}
