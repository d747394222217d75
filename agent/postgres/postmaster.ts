import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SwitchyardError } from '../../src/errors.js';

/** The pid in `dataDir`/postmaster.pid, unchecked (null when the file is missing or unreadable). */
export function readPostmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** The process exists and is not a zombie (a stopped postmaster's parent may not have reaped it yet). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * A postmaster that was killed is still in the process table (a zombie until its parent reaps it), and
 * PostgreSQL refuses to start, even in single-user mode, while the pid in postmaster.pid exists: "lock
 * file already exists". Not a failed start or rewind: the agent tries again on the next cycle.
 */
export class OldPostmasterNotGone extends SwitchyardError {
  override name = 'OldPostmasterNotGone';
  constructor(pid: number, waitedMs: number) {
    super(
      'SY_ERR_AGENT',
      `the old postmaster (pid ${pid}) is still in the process table after ${waitedMs} ms`,
    );
  }
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** `pid` is a live postgres process whose command line names `dataDir` (pg_ctl starts it with `-D dir`). */
export function isPostmasterOf(pid: number, dataDir: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!/(^|\/)(postgres|postmaster)$/.test(argv[0] ?? '')) return false;
    const i = argv.indexOf('-D');
    const dir = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('-D'))?.slice(2);
    return dir !== undefined && dir.replace(/\/+$/, '') === dataDir.replace(/\/+$/, '');
  } catch {
    return false;
  }
}

/**
 * Waits (bounded) until the pid of a stale postmaster.pid has left the process table; throws
 * OldPostmasterNotGone when it has not. Nothing to wait for when PostgreSQL runs or the file is gone.
 */
export async function awaitOldPostmasterExit(dataDir: string, maxMs = 5000): Promise<void> {
  const started = Date.now();
  for (;;) {
    const pid = readPostmasterPid(dataDir);
    if (pid === null || isPostmasterOf(pid, dataDir) || !pidExists(pid)) return;
    if (Date.now() - started >= maxMs) throw new OldPostmasterNotGone(pid, Date.now() - started);
    await new Promise((r) => setTimeout(r, 20));
  }
}
