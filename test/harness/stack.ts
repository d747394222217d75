import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Which programs the harness runs. `bookworm` (default): the host's Debian 12 packages (etcd 3.4,
 * Patroni 3.0.2, PostgreSQL 15, HAProxy 2.6, PgBouncer 1.18). `trixie` (`SWITCHYARD_STACK=trixie`):
 * the same program paths inside the Debian 13 root that `scripts/build-trixie-root.sh` builds (etcd
 * 3.5, Patroni 4.0.7, PostgreSQL 17, HAProxy 3.0, PgBouncer 1.24), run through `chroot`.
 *
 * Inside the root, `os.tmpdir()` is bind-mounted at the same path, so every temp dir, socket, config
 * and data dir the harness makes has one path on both sides; the root's processes share loopback with
 * the host, so tests and the router under test reach them on 127.0.0.1 as before.
 */
export type StackName = 'bookworm' | 'trixie';

function readStack(): StackName {
  const value = process.env.SWITCHYARD_STACK ?? 'bookworm';
  if (value !== 'bookworm' && value !== 'trixie') {
    throw new Error(`SWITCHYARD_STACK: expected "bookworm" or "trixie", found "${value}"`);
  }
  return value;
}

export const STACK: StackName = readStack();

/** The Debian 13 root (same default as scripts/build-trixie-root.sh). */
export const TRIXIE_ROOT = process.env.SWITCHYARD_TRIXIE_ROOT ?? '/var/cache/switchyard/trixie-root';
const MARKER = '.switchyard-complete';

/** PostgreSQL's bin dir of the stack (as seen by the programs that run it). */
export const PG_BIN = STACK === 'trixie' ? '/usr/lib/postgresql/17/bin' : '/usr/lib/postgresql/15/bin';

/** Versions of the stack's programs, for test names and messages. */
export const STACK_VERSIONS =
  STACK === 'trixie'
    ? { etcd: '3.5', patroni: '4.0.7', postgres: '17', haproxy: '3.0', pgbouncer: '1.24' }
    : { etcd: '3.4', patroni: '3.0.2', postgres: '15', haproxy: '2.6', pgbouncer: '1.18' };

/** Programs the harness starts that the trixie stack takes from the root (everything else is the host's). */
const STACK_PROGRAMS = new Set([
  '/usr/bin/etcd',
  '/usr/bin/etcdctl',
  '/usr/bin/patroni',
  '/usr/bin/patronictl',
  '/usr/sbin/haproxy',
  '/usr/sbin/pgbouncer',
]);
const HOST_PG_BIN = '/usr/lib/postgresql/15/bin/';

function isMounted(path: string): boolean {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === path);
}

let prepared = false;

/**
 * Checks the root is complete and mounts what its programs need (idempotent, shared by every test
 * process): proc, a tmpfs on dev/shm (Patroni's REST API needs POSIX semaphores), and os.tmpdir()
 * bound at the same path. `scripts/build-trixie-root.sh --umount` removes them.
 */
export function prepareTrixieRoot(): void {
  if (prepared) return;
  if (!existsSync(join(TRIXIE_ROOT, MARKER))) {
    throw new Error(
      `SWITCHYARD_STACK=trixie: no complete root at ${TRIXIE_ROOT} (marker ${MARKER} missing); ` +
        'build it with scripts/build-trixie-root.sh',
    );
  }
  const tmp = tmpdir();
  const mounts: [string, string[]][] = [
    [join(TRIXIE_ROOT, 'proc'), ['-t', 'proc', 'proc']],
    [join(TRIXIE_ROOT, 'dev/shm'), ['-t', 'tmpfs', '-o', 'mode=1777,size=256m', 'tmpfs']],
    [join(TRIXIE_ROOT, tmp), ['--bind', tmp]],
  ];
  for (const [target, args] of mounts) {
    if (isMounted(target)) continue;
    mkdirSync(target, { recursive: true });
    try {
      execFileSync('mount', [...args, target], { stdio: 'pipe' });
    } catch (error) {
      // another test process may have mounted it a moment ago
      if (!isMounted(target)) throw error;
    }
  }
  prepared = true;
}

let cachedRootUser: { uid: number; gid: number } | undefined;

/** uid/gid of `postgres` in the root's /etc/passwd. */
function rootPostgresUser(): { uid: number; gid: number } {
  if (!cachedRootUser) {
    const line = readFileSync(join(TRIXIE_ROOT, 'etc/passwd'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('postgres:'));
    const [, , uid, gid] = line?.split(':') ?? [];
    if (uid === undefined || gid === undefined) {
      throw new Error(`${TRIXIE_ROOT}/etc/passwd: expected a postgres user, found none`);
    }
    cachedRootUser = { uid: Number(uid), gid: Number(gid) };
  }
  return cachedRootUser;
}

/** The `postgres` user PostgreSQL, Patroni and PgBouncer run as on this stack (data dirs are chowned to it). */
export function stackPostgresUser(hostUser: () => { uid: number; gid: number }): {
  uid: number;
  gid: number;
} {
  return STACK === 'trixie' ? rootPostgresUser() : hostUser();
}

/** A command after stack selection: what to exec, and as whom (undefined: as the caller). */
export interface StackCommand {
  command: string;
  args: string[];
  user?: { uid: number; gid: number };
}

/**
 * Maps a program of the bookworm stack to the selected stack. On trixie, etcd, etcdctl, Patroni,
 * patronictl, HAProxy, PgBouncer and PostgreSQL's binaries run inside the root through
 * `chroot [--userspec=UID:GID] ROOT program args` (chroot execs the program: the pid is the program's).
 * Anything else (node, openssl, ip …) is returned unchanged.
 */
export function stackCommand(
  command: string,
  args: string[],
  user?: { uid: number; gid: number },
): StackCommand {
  if (STACK === 'bookworm') return { command, args, ...(user ? { user } : {}) };
  let program = command;
  if (command.startsWith(HOST_PG_BIN)) program = `${PG_BIN}/${command.slice(HOST_PG_BIN.length)}`;
  else if (command.startsWith(`${PG_BIN}/`)) program = command;
  else if (!STACK_PROGRAMS.has(command)) return { command, args, ...(user ? { user } : {}) };
  prepareTrixieRoot();
  const userspec = user ? [`--userspec=${user.uid}:${user.gid}`] : [];
  return { command: '/usr/sbin/chroot', args: [...userspec, TRIXIE_ROOT, program, ...args] };
}

/**
 * The command line of `switchyard <args>` (the built CLI, `bin/switchyard.js`, under the running node) for
 * a program of the stack to run, e.g. Patroni's `postgresql.before_stop`. It runs `dist/`, which `npm ci`
 * builds: after changing `src/`, `npm run build` first, or the program runs the old code. On trixie the node runtime and
 * the repository (and its node_modules when that is a symlink) are bound read-only into the root at the
 * same paths, unless they already sit under the bound tmpdir; `scripts/build-trixie-root.sh --umount`
 * removes them with the rest.
 */
export function switchyardCommandInStack(args: readonly string[]): string {
  const repo = realpathSync(join(import.meta.dirname, '..', '..'));
  const node = realpathSync(process.execPath);
  if (STACK === 'trixie') {
    prepareTrixieRoot();
    const tmp = realpathSync(tmpdir());
    const dirs = [dirname(dirname(node)), repo, realpathSync(join(repo, 'node_modules'))];
    for (const dir of new Set(dirs)) {
      if (dir.startsWith(`${tmp}/`) || (dir !== repo && dir.startsWith(`${repo}/`))) continue;
      const target = join(TRIXIE_ROOT, dir);
      if (isMounted(target)) continue;
      mkdirSync(target, { recursive: true });
      try {
        execFileSync('mount', ['--bind', '-o', 'ro', dir, target], { stdio: 'pipe' });
      } catch (error) {
        if (!isMounted(target)) throw error;
      }
    }
  }
  return [node, join(repo, 'bin', 'switchyard.js'), ...args].join(' ');
}
