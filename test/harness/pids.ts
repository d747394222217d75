import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { isAlive } from '../../agent/postgres/postmaster.js';

// Facts about OS processes, read from /proc (Linux only), and signalling by pid.

/** Field 22 (start time in clock ticks) of /proc/<pid>/stat, or undefined if the pid is gone; identifies a process across pid reuse. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

export function procGroup(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgid = Number(fields[2]);
    return Number.isInteger(pgid) ? pgid : undefined;
  } catch {
    return undefined;
  }
}

export { isAlive };

export function trySignal(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

const ownGroup = procGroup(process.pid);

/**
 * Sends `signal` to `pid`'s process group (unless that is the test process's own group) and to
 * `pid` itself, so that children die too (postgres backends, HAProxy workers).
 */
export function signalTree(pid: number, signal: NodeJS.Signals): void {
  const pgid = procGroup(pid);
  if (pgid !== undefined && pgid > 1 && pgid !== ownGroup) trySignal(-pgid, signal);
  trySignal(pid, signal);
}

/**
 * The postmaster pid recorded in `<dataDir>/postmaster.pid`, if that process is alive and is a postgres.
 * Patroni starts postgres in its own session (setsid), so this is the only reliable way to find it.
 */
export function postmasterPid(dataDir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return undefined;
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    if (comm !== 'postgres' && comm !== 'postmaster') return undefined;
  } catch {
    return undefined;
  }
  return pid;
}

/**
 * True if process `pid` holds a TCP socket listening on `port` (any local address), read from
 * /proc/net/tcp{,6} and the process's fds. Needs permission to read /proc/<pid>/fd (root here).
 * Lets a start-up wait make sure the server that answers is the one it started.
 */
export function listensOn(pid: number, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols: sl local_address rem_address st ... inode (index 9); st 0A = LISTEN
      if (cols[3] === '0A' && cols[1]?.endsWith(`:${hexPort}`) && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return m !== null && inodes.has(m[1] as string);
    } catch {
      return false;
    }
  });
}

/** The System V shared memory segment a postmaster recorded in `<dataDir>/postmaster.pid` (line 7). */
export interface PostmasterShm {
  pid: number;
  shmid: number;
}

/** Reads pid (line 1) and shmid (line 7, "key id") of `<dataDir>/postmaster.pid`, alive or not. */
export function postmasterShm(dataDir: string): PostmasterShm | undefined {
  try {
    const lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
    const pid = Number(lines[0]);
    const shmid = Number(lines[6]?.trim().split(/\s+/)[1]);
    return Number.isInteger(pid) && Number.isInteger(shmid) && shmid >= 0 ? { pid, shmid } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the 56-byte SysV segment a postmaster leaves behind when it is SIGKILLed (PostgreSQL
 * would reuse it on the next start in the same data dir, but harness data dirs are deleted). Only
 * when the segment was created by that pid and nothing is attached. Returns true if removed.
 */
export function removeLeftoverShm(shm: PostmasterShm): boolean {
  let table: string;
  try {
    table = readFileSync('/proc/sysvipc/shm', 'utf8');
  } catch {
    return false;
  }
  const row = table
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/).map(Number))
    .find((cols) => cols[1] === shm.shmid);
  // columns: key shmid perms size cpid lpid nattch ...
  if (!row || row[4] !== shm.pid || row[6] !== 0 || isAlive(shm.pid)) return false;
  try {
    execFileSync('ipcrm', ['-m', String(shm.shmid)], { stdio: 'ignore', timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}
