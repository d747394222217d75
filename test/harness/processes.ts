import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isAlive,
  postmasterPid,
  postmasterShm,
  procStartTime,
  removeLeftoverShm,
  signalTree,
  trySignal,
  type PostmasterShm,
} from './pids.js';
import { stackCommand, stackPostgresUser } from './stack.js';
import { sleep } from './wait.js';

export { isAlive, postmasterPid, signalTree } from './pids.js';

/** Prefix of every temp dir the harness creates under os.tmpdir(). */
export const TEMP_PREFIX = 'switchyard-harness-';
const REGISTRY_FILE = 'harness-pids.json';

/** uid/gid of the `postgres` OS user, which PostgreSQL, Patroni and PgBouncer need (they refuse root). */
export interface OsUser {
  uid: number;
  gid: number;
}

let cachedPostgresUser: OsUser | undefined;

/**
 * The `postgres` OS user of the selected stack (see stack.ts): the host's (`id -u/-g postgres`), or
 * the trixie root's. Looked up once; throws if it does not exist.
 */
export function postgresUser(): OsUser {
  return stackPostgresUser(hostPostgresUser);
}

function hostPostgresUser(): OsUser {
  if (!cachedPostgresUser) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    if (!Number.isInteger(uid) || !Number.isInteger(gid))
      throw new Error('postgresUser: cannot resolve `postgres`');
    cachedPostgresUser = { uid, gid };
  }
  return cachedPostgresUser;
}

/** What to spawn. `name` identifies the process in the group (logs, stop, pid). */
export interface SpawnSpec {
  name: string;
  command: string;
  args?: string[];
  cwd?: string;
  /** Added to a minimal environment (PATH, LANG, HOME). */
  env?: Record<string, string>;
  /** Run as the `postgres` OS user (required for postgres, patroni, pgbouncer when we are root). */
  asPostgres?: boolean;
}

/** A process started by a {@link ProcessGroup}. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
}

interface RegistryEntry {
  pid: number;
  startTime: string;
  name: string;
}

interface Registry {
  ownerPid: number;
  ownerStartTime: string;
  processes: RegistryEntry[];
  dataDirs: string[];
}

/** Every live group, for the last-resort exit/signal handlers. */
const liveGroups = new Set<ProcessGroup>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const group of liveGroups) group.killAllSync();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      for (const group of liveGroups) group.killAllSync();
      // Restore default behaviour when nobody else handles this signal.
      process.removeListener(signal, handler);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

/**
 * Kills processes left behind by harness runs whose owner (the node process) died without cleanup
 * (e.g. SIGKILL), and removes their temp dirs. Identifies each process by pid AND start time, so a
 * reused pid is never signalled. Returns how many processes it killed.
 */
export function reapOrphans(): number {
  let killed = 0;
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(TEMP_PREFIX));
  } catch {
    return 0;
  }
  for (const dirName of names) {
    const dir = join(tmpdir(), dirName);
    let registry: Registry;
    try {
      registry = JSON.parse(readFileSync(join(dir, REGISTRY_FILE), 'utf8')) as Registry;
    } catch {
      continue;
    }
    if (procStartTime(registry.ownerPid) === registry.ownerStartTime) continue; // owner still running
    for (const entry of registry.processes) {
      if (procStartTime(entry.pid) === entry.startTime) {
        signalTree(entry.pid, 'SIGKILL');
        killed++;
      }
    }
    for (const dataDir of registry.dataDirs) {
      const pid = postmasterPid(dataDir);
      if (pid !== undefined) {
        signalTree(pid, 'SIGKILL');
        killed++;
      }
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  }
  return killed;
}

/**
 * A temp dir plus the processes started in it. Contract: every process it spawns, and every
 * postmaster registered with {@link watchDataDir}, is killed by {@link cleanup}, by the process
 * 'exit'/SIGINT/SIGTERM handlers if the test forgets, or by {@link reapOrphans} in a later run if
 * this node process was SIGKILLed. Children are unref'd: they never keep the test process alive.
 * Output of each process goes to `<dir>/logs/<name>.log` (appended across restarts).
 */
export class ProcessGroup {
  readonly dir: string;
  private readonly processes = new Map<string, ManagedProcess>();
  private readonly history: ManagedProcess[] = [];
  private readonly dataDirs = new Set<string>();
  private cleanedUp = false;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the temp dir `<tmpdir>/switchyard-harness-<label>-XXXXXX` (mode 0755 so the postgres user can enter it). */
  static create(label: string): ProcessGroup {
    installExitHandlers();
    reapOrphans();
    const dir = mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}${label.replace(/[^a-zA-Z0-9_-]/g, '_')}-`));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'logs'), { mode: 0o755 });
    const group = new ProcessGroup(dir);
    liveGroups.add(group);
    group.writeRegistry();
    return group;
  }

  /** Creates `<dir>/<relative>` (and parents); owned by postgres when `forPostgres`. Returns the absolute path. */
  mkdir(relative: string, options: { forPostgres?: boolean; mode?: number } = {}): string {
    const path = join(this.dir, relative);
    mkdirSync(path, { recursive: true, mode: options.mode ?? 0o755 });
    chmodSync(path, options.mode ?? 0o755);
    if (options.forPostgres) {
      const { uid, gid } = postgresUser();
      chownSync(path, uid, gid);
    }
    return path;
  }

  /** Writes a file under the group dir (0644, or `mode`); owned by postgres when `forPostgres`. Returns the path. */
  writeFile(
    relative: string,
    content: string,
    options: { forPostgres?: boolean; mode?: number } = {},
  ): string {
    const path = join(this.dir, relative);
    writeFileSync(path, content, { mode: options.mode ?? 0o644 });
    chmodSync(path, options.mode ?? 0o644);
    if (options.forPostgres) {
      const { uid, gid } = postgresUser();
      chownSync(path, uid, gid);
    }
    return path;
  }

  /** Registers a PostgreSQL data dir: cleanup kills the postmaster found in its `postmaster.pid`. */
  watchDataDir(dataDir: string): void {
    this.dataDirs.add(dataDir);
    this.writeRegistry();
  }

  /** Spawns a process; throws if a process with this name is still running. */
  spawn(spec: SpawnSpec): ManagedProcess {
    if (this.cleanedUp) throw new Error(`ProcessGroup ${this.dir}: spawn(${spec.name}) after cleanup`);
    const existing = this.processes.get(spec.name);
    if (existing?.isRunning())
      throw new Error(`ProcessGroup: ${spec.name} is already running (pid ${existing.pid})`);
    const logPath = join(this.dir, 'logs', `${spec.name}.log`);
    const fd = openSync(logPath, 'a', 0o644);
    const target = stackCommand(spec.command, spec.args ?? [], spec.asPostgres ? postgresUser() : undefined);
    const user = target.user;
    let child: ChildProcess;
    try {
      writeFileSync(
        fd,
        `=== ${new Date().toISOString()} spawn ${spec.command} ${(spec.args ?? []).join(' ')}\n`,
      );
      child = spawn(target.command, target.args, {
        cwd: spec.cwd ?? this.dir,
        env: {
          PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
          LANG: 'C.UTF-8',
          LC_ALL: 'C.UTF-8',
          HOME: spec.asPostgres ? this.dir : (process.env.HOME ?? '/root'),
          ...(spec.asPostgres ? { USER: 'postgres', LOGNAME: 'postgres' } : {}),
          ...spec.env,
        },
        stdio: ['ignore', fd, fd],
        detached: true, // own process group, so a SIGKILL fallback reaches its children
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      });
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) {
      throw new Error(`ProcessGroup: cannot spawn ${spec.command} for ${spec.name} (see ${logPath})`);
    }
    const pid = child.pid;
    let running = true;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => {
        running = false;
        resolve({ code, signal });
      });
      child.once('error', () => {
        running = false;
        resolve({ code: null, signal: null });
      });
    });
    child.unref();
    const managed: ManagedProcess = {
      name: spec.name,
      pid,
      logPath,
      child,
      exited,
      isRunning: () => running && isAlive(pid),
    };
    this.processes.set(spec.name, managed);
    this.history.push(managed);
    this.writeRegistry();
    return managed;
  }

  get(name: string): ManagedProcess | undefined {
    return this.processes.get(name);
  }

  /** pid of the latest process named `name` while it runs, else undefined. */
  pid(name: string): number | undefined {
    const p = this.processes.get(name);
    return p?.isRunning() ? p.pid : undefined;
  }

  isRunning(name: string): boolean {
    return this.processes.get(name)?.isRunning() ?? false;
  }

  /** Sends `signal` to the process `name` only (not its group). Returns false if it was not running. */
  signal(name: string, signal: NodeJS.Signals): boolean {
    const pid = this.pid(name);
    return pid !== undefined && trySignal(pid, signal);
  }

  /**
   * Sends `signal` and waits up to `timeoutMs` for exit; then SIGKILLs the process and its process
   * group and waits up to 5 s more. Resolves once it has exited; throws only if even SIGKILL failed.
   */
  async stop(name: string, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    const p = this.processes.get(name);
    if (!p?.isRunning()) return;
    trySignal(p.pid, signal);
    if (await this.waitExit(p, timeoutMs)) return;
    signalTree(p.pid, 'SIGKILL');
    if (!(await this.waitExit(p, 5_000)))
      throw new Error(`ProcessGroup: ${name} (pid ${p.pid}) survived SIGKILL`);
  }

  private async waitExit(p: ManagedProcess, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!p.isRunning()) return true;
      await Promise.race([p.exited, sleep(Math.min(100, Math.max(1, deadline - Date.now())))]);
    }
    return !p.isRunning();
  }

  /** Last `lines` lines of the log of `name` (empty string if none). */
  logTail(name: string, lines = 40): string {
    return tailFile(join(this.dir, 'logs', `${name}.log`), lines);
  }

  /** Log tails of every process in the group, each under a header; for error messages. */
  logTails(lines = 20): string {
    return [...this.processes.keys()]
      .map((n) => `--- ${n} (last ${lines} lines) ---\n${this.logTail(n, lines)}`)
      .join('\n');
  }

  /** Pids of every process (and registered postmaster) of this group that is still alive. */
  livePids(): number[] {
    const pids = this.history.filter((p) => p.isRunning()).map((p) => p.pid);
    for (const dataDir of this.dataDirs) {
      const pid = postmasterPid(dataDir);
      if (pid !== undefined) pids.push(pid);
    }
    return pids;
  }

  /**
   * Stops everything and removes the temp dir; idempotent. Processes get `graceMs` after SIGTERM
   * (0 = SIGKILL at once); postmasters get SIGQUIT (immediate shutdown, which frees shared memory)
   * then SIGKILL of their process group after 5 s.
   */
  async cleanup(graceMs = 0): Promise<void> {
    if (this.cleanedUp) return;
    const postmasters = [...this.dataDirs]
      .map(postmasterPid)
      .filter((pid): pid is number => pid !== undefined);
    // Supervisors first (so Patroni cannot restart postgres), then postmasters by SIGQUIT: an
    // immediate shutdown still frees shared memory, which SIGKILL would leak.
    const running = this.history.filter((p) => p.isRunning() && !postmasters.includes(p.pid));
    await Promise.all(running.map((p) => (graceMs > 0 ? this.stopManaged(p, graceMs) : this.killManaged(p))));
    for (const pid of postmasters) trySignal(pid, 'SIGQUIT');
    const deadline = Date.now() + 5_000;
    while (postmasters.some(isAlive) && Date.now() < deadline) await sleep(50);
    for (const pid of postmasters) if (isAlive(pid)) signalTree(pid, 'SIGKILL');
    const killDeadline = Date.now() + 2_000;
    while (postmasters.some(isAlive) && Date.now() < killDeadline) await sleep(20);
    this.killAllSync();
  }

  private async killManaged(p: ManagedProcess): Promise<void> {
    signalTree(p.pid, 'SIGKILL');
    await this.waitExit(p, 5_000);
  }

  private async stopManaged(p: ManagedProcess, graceMs: number): Promise<void> {
    trySignal(p.pid, 'SIGTERM');
    if (!(await this.waitExit(p, graceMs))) await this.killManaged(p);
  }

  /**
   * Synchronous last resort: SIGKILL every process and postmaster, remove the temp dir (kept, with
   * its logs, when the environment has SWITCHYARD_HARNESS_KEEP=1).
   */
  killAllSync(): void {
    for (const p of this.history) if (p.isRunning()) signalTree(p.pid, 'SIGKILL');
    const segments = [...this.dataDirs].map(postmasterShm).filter((s): s is PostmasterShm => s !== undefined);
    for (const dataDir of this.dataDirs) {
      const pid = postmasterPid(dataDir);
      if (pid !== undefined) signalTree(pid, 'SIGKILL');
    }
    for (const segment of segments) removeLeftoverShm(segment);
    this.cleanedUp = true;
    liveGroups.delete(this);
    if (process.env.SWITCHYARD_HARNESS_KEEP === '1') {
      // Keep logs and data for a post-mortem; without its registry reapOrphans leaves the dir alone.
      rmSync(join(this.dir, REGISTRY_FILE), { force: true });
      process.stderr.write(`switchyard harness: kept ${this.dir} (SWITCHYARD_HARNESS_KEEP=1)\n`);
      return;
    }
    // A process killed a moment ago may still be writing; retry instead of throwing from an exit handler.
    try {
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    } catch (error) {
      process.stderr.write(`switchyard harness: could not remove ${this.dir}: ${String(error)}\n`);
    }
  }

  private writeRegistry(): void {
    if (this.cleanedUp || !existsSync(this.dir)) return;
    const registry: Registry = {
      ownerPid: process.pid,
      ownerStartTime: procStartTime(process.pid) ?? '',
      processes: this.history
        .map((p) => ({ pid: p.pid, name: p.name, startTime: procStartTime(p.pid) ?? '' }))
        .filter((e) => e.startTime !== ''),
      dataDirs: [...this.dataDirs],
    };
    writeFileSync(join(this.dir, REGISTRY_FILE), JSON.stringify(registry));
  }
}

/** Last `lines` lines of a file (reads at most its last 64 KiB); empty string if unreadable. */
export function tailFile(path: string, lines = 40): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 65_536);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer
      .toString('utf8')
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trimEnd();
  } finally {
    closeSync(fd);
  }
}
