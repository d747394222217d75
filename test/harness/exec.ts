import { execFile } from 'node:child_process';
import { stackCommand } from './stack.js';

/** Result of {@link run}. */
export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  timedOut: boolean;
}

/** Options of {@link run}. */
export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill the command after this long (default 30 s). */
  timeoutMs?: number;
  uid?: number;
  gid?: number;
  /** Do not throw on a non-zero exit; return the result. */
  reject?: boolean;
}

/** Thrown by {@link run} on non-zero exit or timeout; carries the full result. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
  }
}

/**
 * Runs a short command to completion (bounded by `timeoutMs`), capturing output. By default throws
 * {@link CommandError} naming the command, exit code and stderr when it fails.
 */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const user =
    options.uid !== undefined && options.gid !== undefined
      ? { uid: options.uid, gid: options.gid }
      : undefined;
  const target = stackCommand(command, args, user);
  return new Promise((resolve, reject) => {
    execFile(
      target.command,
      target.args,
      {
        env: { ...process.env, ...options.env },
        cwd: options.cwd,
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
        ...(target.user ? { uid: target.user.uid, gid: target.user.gid } : {}),
      },
      (error, stdout, stderr) => {
        const err = error as (NodeJS.ErrnoException & { code?: unknown; killed?: boolean }) | null;
        const timedOut = Boolean(err?.killed);
        const exitCode = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        const result: RunResult = { stdout, stderr, exitCode, timedOut };
        if (err && options.reject !== false) {
          const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${String(err.code)}`;
          reject(
            new CommandError(
              `${command} ${args.join(' ')} ${why}: ${stderr.trim() || stdout.trim()}`,
              result,
            ),
          );
          return;
        }
        resolve(result);
      },
    );
  });
}
