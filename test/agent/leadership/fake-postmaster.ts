import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A process whose command line looks like a postmaster's (`…/postgres -D <dataDir>`): python3 started through
 * a symlink named `postgres`, sleeping (it dies on SIGQUIT like a postmaster's immediate shutdown; bash
 * would ignore it). Enough for the pid checks and the watchdog, which read /proc (the command line only, so
 * the symlink's directory is removed as soon as spawn has exec'd: nothing is left in the temp dir).
 */
export function fakePostmaster(dataDir: string): ChildProcess {
  const dir = mkdtempSync(join(tmpdir(), 'sy-fake-pm-'));
  const bin = join(dir, 'postgres');
  symlinkSync('/usr/bin/python3', bin);
  try {
    return spawn(bin, ['-c', 'import time; time.sleep(60)', '-D', dataDir], { stdio: 'ignore' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The process still exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
