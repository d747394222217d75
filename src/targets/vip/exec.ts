import { SwitchyardError, type SwitchyardErrorOptions } from '../../errors.js';
import { ProcessStartError, runProcess } from '../../util/process.js';

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
 * The real {@link Exec} on the shared runner ({@link runProcess}): argv only, never through a shell, so no
 * value from config or DCS is interpreted; secrets are not passed (`ip` and `arping` need none). Plain
 * `child_process.spawn` underneath: a third of execa's per-run overhead, and the VIP's take and release sit
 * on the failover's critical path.
 */
export const execProgram: Exec = async (file, args, timeoutMs, signal) => {
  let result;
  try {
    result = await runProcess({ file, args, timeoutMs, env: { LC_ALL: 'C' }, ...(signal ? { signal } : {}) });
  } catch (error) {
    // spawn failure (ENOENT, EACCES): say which program, the most common cause of a broken setup.
    const errno = error instanceof ProcessStartError ? error.errno : String(error);
    throw new VipError('exec', `cannot run ${file}: ${errno}`, { cause: error });
  }
  const { canceled, timedOut, exitCode } = result;
  return {
    exitCode: canceled || timedOut || exitCode === null ? -1 : exitCode,
    stdout: result.stdout,
    stderr: canceled ? 'canceled' : result.stderr,
    timedOut,
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
