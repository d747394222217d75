import { execa } from 'execa';
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

/** The real {@link Exec}: argv only, never through a shell, so no value from config or DCS is interpreted. */
export const execProgram: Exec = async (file, args, timeoutMs, signal) => {
  const result = await execa(file, [...args], {
    timeout: timeoutMs,
    ...(signal ? { cancelSignal: signal } : {}),
    reject: false,
    stdin: 'ignore',
    forceKillAfterDelay: 500,
    env: { LC_ALL: 'C' },
  });
  if (result.isCanceled)
    return { exitCode: -1, stdout: String(result.stdout ?? ''), stderr: 'canceled', timedOut: false };
  if (result.failed && result.exitCode === undefined && !result.timedOut) {
    // spawn failure (ENOENT, EACCES): say which program, the most common cause of a broken setup.
    throw new VipError('exec', `cannot run ${file}: ${result.originalMessage ?? result.shortMessage}`, {
      cause: result.cause,
    });
  }
  return {
    exitCode: result.exitCode ?? -1,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    timedOut: result.timedOut,
  };
};

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
