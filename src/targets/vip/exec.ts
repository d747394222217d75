import { spawn } from 'node:child_process';
import { SwitchyardError, type SwitchyardErrorOptions } from '../../errors.js';

/** Outcome of one program run; a non-zero exit is data here, the caller decides what it means. */
export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/**
 * Runs a program (no shell) with a deadline; `signal` kills it early. Injected so tests can fake `ip`,
 * `arping` and `ndptool`.
 */
export type Exec = (
  file: string,
  args: readonly string[],
  timeoutMs: number,
  signal?: AbortSignal,
) => Promise<ExecResult>;

/**
 * The real {@link Exec}: argv only, never through a shell, so no value from config or DCS is interpreted.
 * Plain `child_process.spawn`: it costs a third of execa's per-run overhead, and the VIP's take and
 * release sit on the failover's critical path.
 */
export const execProgram: Exec = (file, args, timeoutMs, signal) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    let canceled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const onAbort = () => {
      canceled = true;
      child.kill('SIGKILL');
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      done();
      // spawn failure (ENOENT, EACCES): say which program, the most common cause of a broken setup.
      reject(new VipError('exec', `cannot run ${file}: ${error.code ?? error.message}`, { cause: error }));
    });
    child.once('close', (code) => {
      done();
      resolve({
        exitCode: canceled || timedOut || code === null ? -1 : code,
        stdout: Buffer.concat(out).toString(),
        stderr: canceled ? 'canceled' : Buffer.concat(err).toString(),
        timedOut,
      });
    });
  });

/** Which step of handling the VIP failed. */
export type VipStep = 'exec' | 'config' | 'query' | 'add' | 'remove' | 'announce' | 'probe';

/** Every failure of the VIP target: code SY_ERR_VIP, `step` says which part, `timedOut` when a deadline hit. */
export class VipError extends SwitchyardError {
  override name = 'VipError';
  readonly step: VipStep;
  readonly timedOut: boolean;
  constructor(step: VipStep, message: string, options: SwitchyardErrorOptions & { timedOut?: boolean } = {}) {
    super('SY_ERR_VIP', message, options);
    this.step = step;
    this.timedOut = options.timedOut ?? false;
  }
}

/** First line of a program's error output, for messages ("Error: ipv4: Address not found."). */
export function firstLine(result: ExecResult): string {
  const text = `${result.stderr}\n${result.stdout}`.trim();
  return text.split('\n')[0]?.trim() || `exit code ${result.exitCode}`;
}
