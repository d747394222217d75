import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SwitchyardError } from '../../src/errors.js';
import { runProcess } from '../../src/util/process.js';

/** The OS user PostgreSQL runs as. PostgreSQL refuses to run as root. */
export interface PgOsUser {
  readonly uid: number;
  readonly gid: number;
}

/**
 * Who runs initdb, pg_ctl, pg_basebackup and pg_rewind. When the agent is not root it runs them as itself.
 * When it is root (tests, containers), it runs them as the owner of the data directory, or of its parent
 * when the data directory does not exist yet: `chown postgres <parent of data_dir>` is the one setup step.
 */
export function resolvePgUser(dataDir: string): PgOsUser | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  for (const path of [dataDir, dirname(dataDir)]) {
    try {
      const st = statSync(path);
      if (st.uid === 0) break;
      return { uid: st.uid, gid: st.gid };
    } catch {
      // try the parent
    }
  }
  throw new SwitchyardError(
    'SY_ERR_AGENT',
    `PostgreSQL refuses to run as root and ${dataDir} (or its parent) is owned by root; chown it to the postgres OS user`,
  );
}

export interface RunResult {
  readonly exitCode: number;
  readonly output: string;
}

/**
 * Runs a PostgreSQL binary from `binDir` as `user`, bounded by `timeoutMs`, on the shared runner
 * ({@link runProcess}). Never throws on a non-zero exit: callers decide; the combined output is kept for
 * the error they raise (exit 124 on timeout, 1 when killed or not started). Secrets travel via PGPASSFILE
 * only: credential-like variables of the agent's own environment are not passed on.
 */
export async function runPg(
  binDir: string,
  command: string,
  args: readonly string[],
  options: { user: PgOsUser | null; timeoutMs: number; env?: Record<string, string>; cwd?: string },
): Promise<RunResult> {
  const file = join(binDir, command);
  try {
    const result = await runProcess({
      file,
      args,
      timeoutMs: options.timeoutMs,
      cwd: options.cwd ?? '/',
      env: { LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', ...options.env },
      killGraceMs: 5000,
      ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
    });
    return { exitCode: result.exitCode ?? (result.timedOut ? 124 : 1), output: result.output };
  } catch (error) {
    return { exitCode: 1, output: error instanceof Error ? error.message : String(error) };
  }
}

/** Throws SY_ERR_AGENT with the step name and the last lines of output when a command failed. */
export function check(step: string, result: RunResult): RunResult {
  if (result.exitCode !== 0) {
    const tail = result.output.trim().split('\n').slice(-6).join(' | ');
    throw new SwitchyardError('SY_ERR_AGENT', `${step} failed (exit ${result.exitCode}): ${tail}`);
  }
  return result;
}
