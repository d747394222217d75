import { SwitchyardError } from '../../errors.js';

export class SwitchoverError extends SwitchyardError {
  override name = 'SwitchoverError';
  constructor(message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super('SY_ERR_SWITCHOVER', message, options);
  }
}

/** Prints one line per step with the time since the start. */
export class Steps {
  private readonly started = Date.now();
  constructor(private readonly out: NodeJS.WritableStream) {}
  get elapsed(): number {
    return Date.now() - this.started;
  }
  say(text: string): void {
    this.out.write(`[${String(this.elapsed).padStart(6)} ms] ${text}\n`);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolveSleep) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolveSleep();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolveSleep();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
