import { readFile } from 'node:fs/promises';
import { readBackUntilApplied, runCommand } from '../../render/index.js';
import { SwitchyardError, describeError } from '../../errors.js';
import { AdminConnection, AdminError, type AdminEndpoint, type Row } from '../admin-console.js';
import type { PgcatServer } from './render.js';

export type PgcatReload =
  | { readonly method: 'admin' }
  | { readonly method: 'signal'; readonly pid?: number | undefined; readonly pidfile?: string | undefined }
  | { readonly method: 'command'; readonly command: string };

/** Sends SIGHUP to a pid or the pid in a pidfile (pgcat reloads on SIGHUP, `ExecReload` in pgcat.service). */
export async function signalReload(target: {
  pid?: number | undefined;
  pidfile?: string | undefined;
}): Promise<string> {
  let pid = target.pid;
  if (pid === undefined) {
    const path = target.pidfile as string;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new SwitchyardError(
        'SY_ERR_RELOAD_FAILED',
        `cannot read pgcat pidfile ${path}: ${describeError(err)}`,
        { cause: err },
      );
    }
    pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 1)
      throw new SwitchyardError('SY_ERR_RELOAD_FAILED', `pgcat pidfile ${path} holds no pid`);
  }
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SwitchyardError(
      'SY_ERR_RELOAD_FAILED',
      `cannot send SIGHUP to pgcat (pid ${pid}${target.pidfile ? ` from ${target.pidfile}` : ''}): ${code === 'ESRCH' ? 'no such process' : describeError(err)}`,
      { cause: err },
    );
  }
  return `SIGHUP to pid ${pid}`;
}

/** Runs the configured reload; returns how it was done, for the apply sentence. */
export async function reloadPgcat(
  how: PgcatReload,
  console: AdminEndpoint,
  timeoutMs: number,
): Promise<string> {
  if (how.method === 'signal') return signalReload(how);
  if (how.method === 'command') {
    await runCommand(how.command, { timeoutMs, purpose: 'reload' });
    return 'reload command';
  }
  const conn = await AdminConnection.open(console);
  try {
    await conn.query('RELOAD');
    return 'RELOAD';
  } catch (err) {
    // pgcat answers a failed reload (BadConfig) by dropping the admin connection without an ErrorResponse.
    if (err instanceof AdminError && err.sqlMessage === null && !err.timedOut) {
      throw new SwitchyardError(
        'SY_ERR_RELOAD_FAILED',
        'pgcat dropped the admin connection on RELOAD: it probably rejected the new pgcat.toml (see its log)',
        {
          cause: err,
        },
      );
    }
    throw err;
  } finally {
    await conn.close();
  }
}

/**
 * Polls pgcat's `SHOW DATABASES` until every pool's `<pool>_shard_0_primary` row names the intended
 * primary, bounded by `timeoutMs` (SIGHUP is asynchronous). Throws SY_ERR_RELOAD_FAILED naming the first
 * pool that is still wrong.
 */
export async function verifyPgcat(
  console: AdminEndpoint,
  primaries: ReadonlyMap<string, PgcatServer>,
  timeoutMs: number,
): Promise<void> {
  await readBackUntilApplied({
    timeoutMs,
    pollMs: 100,
    isReadErrorRetried: true,
    failure: (problem) => `pgcat did not apply the new pgcat.toml within ${timeoutMs} ms: ${problem}`,
    read: async () => {
      const conn = await AdminConnection.open(console);
      try {
        const problem = wrongPrimary(await conn.query('SHOW DATABASES'), primaries);
        return problem === null ? { value: undefined } : { problem };
      } finally {
        await conn.close();
      }
    },
  });
}

/** The first pool whose primary row in `SHOW DATABASES` is missing or not the intended one; null when none. */
function wrongPrimary(rows: readonly Row[], primaries: ReadonlyMap<string, PgcatServer>): string | null {
  const byName = new Map(rows.map((r) => [String(r['name']), r]));
  for (const [pool, want] of primaries) {
    const row = byName.get(`${pool}_shard_0_primary`);
    if (!row) return `${pool} has no primary row`;
    if (String(row['host']) !== want.host || Number(row['port']) !== want.port)
      return `${pool} primary is ${String(row['host'])}:${String(row['port'])}, expected ${want.host}:${want.port}`;
  }
  return null;
}
