import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, writeSync } from 'node:fs';

/**
 * The fencing watchdog: a separate process, in its own process group, that stops PostgreSQL (SIGQUIT to the
 * postmaster = immediate shutdown) when the agent has not renewed its leader lease in time. It covers what
 * the agent cannot do itself: a frozen agent (SIGSTOP, long GC, swapped out), a killed agent (kill -9) or a
 * blocked event loop. Patroni relies on a hardware/softdog watchdog for this; without one, a frozen Patroni
 * 3.0.2 kept a writable primary after another node was promoted.
 *
 * Protocol on stdin, one line each: `arm <deadline_ns> <postmaster_pid>` (deadline on CLOCK_MONOTONIC, shared
 * by all processes of the host), `disarm`. When stdin closes while armed the deadline still holds.
 *
 * Instance token: each agent start writes a fresh random token into the token file; a watchdog fences only
 * while the file still holds the token it was started with. So after an agent crash, the orphaned old
 * watchdog of that agent never fences the primary of the agent that replaced it (it exits instead).
 */
const CHILD = String.raw`
const fs = require('node:fs');
const [tokenFile, token] = process.argv.slice(1);
let deadline = null, pid = 0, closed = false, buf = '';
const isPostmaster = (p) => { try { return /postgres|postmaster/.test(fs.readFileSync('/proc/' + p + '/cmdline', 'utf8')); } catch { return false; } };
const isCurrent = () => { try { return fs.readFileSync(tokenFile, 'utf8').trim() === token; } catch { return true; } };
function fence() {
  deadline = null;
  if (!isCurrent()) { try { process.stdout.write('superseded ' + pid + '\n'); } catch {} process.exit(0); }
  if (pid > 0 && isPostmaster(pid)) { try { process.kill(pid, 'SIGQUIT'); } catch {} }
  try { process.stdout.write('fenced ' + pid + '\n'); } catch {}
}
setInterval(() => {
  if (deadline !== null && process.hrtime.bigint() >= deadline) fence();
  if (closed && deadline === null) process.exit(0);
}, 10);
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const [cmd, a, b] = buf.slice(0, i).trim().split(' ');
    buf = buf.slice(i + 1);
    if (cmd === 'arm') { deadline = BigInt(a); pid = Number(b); }
    else if (cmd === 'disarm') { deadline = null; }
  }
});
process.stdin.on('end', () => { closed = true; });
process.stdin.on('error', () => { closed = true; });
process.stdout.write('ready\n');
`;

/** Writes `text` to `file` without following a symlink at `file` (0600, truncated). */
function writeNoFollow(file: string, text: string): void {
  const fd = openSync(
    file,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

export interface WatchdogOptions {
  /** File holding this agent instance's token (next to the data directory). */
  readonly tokenFile: string;
  /** Restarts allowed per minute before the watchdog counts as dead. */
  readonly maxRestartsPerMinute?: number;
}

export class FencingWatchdog {
  #child: ChildProcess | null = null;
  #armed: { deadlineMs: number; pid: number } | null = null;
  #stopping = false;
  #restarts: number[] = [];
  readonly token = randomBytes(16).toString('hex');
  onFenced: (pid: number) => void = () => undefined;
  /** The watchdog process died and could not be restarted: nothing fences a frozen agent any more. */
  onDead: (reason: string) => void = () => undefined;
  /** The watchdog process died and was restarted (its arm state re-sent). */
  onRestarted: (reason: string) => void = () => undefined;

  constructor(private readonly options: WatchdogOptions) {}

  /** Writes this instance's token (orphans of earlier instances stand down) and starts the process. */
  start(): void {
    if (this.#child) return;
    writeNoFollow(this.options.tokenFile, `${this.token}\n`);
    this.#spawn();
  }

  #spawn(): void {
    const child = spawn(process.execPath, ['-e', CHILD, this.options.tokenFile, this.token], {
      detached: true,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    child.stdout?.on('data', (d: Buffer) => {
      for (const m of d.toString().matchAll(/fenced (\d+)/g)) this.onFenced(Number(m[1]));
    });
    child.stdin?.on('error', () => undefined);
    child.on('error', () => undefined);
    child.once('exit', (code, signal) => {
      if (this.#child !== child || this.#stopping) return;
      this.#child = null;
      this.#supervise(`watchdog process ${child.pid} exited (${signal ?? `code ${code}`})`);
    });
    child.unref();
    (child.stdout as unknown as { unref?: () => void })?.unref?.();
    this.#child = child;
  }

  /** A dead watchdog is restarted and re-armed; past the restart budget, `onDead` (the caller fences). */
  #supervise(reason: string): void {
    const now = Date.now();
    this.#restarts = this.#restarts.filter((t) => now - t < 60_000);
    if (this.#restarts.length >= (this.options.maxRestartsPerMinute ?? 3)) {
      this.onDead(`${reason}; restarted ${this.#restarts.length} times in a minute, giving up`);
      return;
    }
    this.#restarts.push(now);
    try {
      this.#spawn();
    } catch (err) {
      this.onDead(`${reason}; restart failed: ${String(err)}`);
      return;
    }
    if (this.#armed)
      this.#send(`arm ${BigInt(Math.floor(this.#armed.deadlineMs)) * 1_000_000n} ${this.#armed.pid}`);
    this.onRestarted(reason);
  }

  #send(line: string): void {
    this.#child?.stdin?.write(`${line}\n`);
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get isArmed(): boolean {
    return this.#armed !== null;
  }

  /** A watchdog process is running (false after it died and could not be restarted). */
  get isAlive(): boolean {
    return this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Fence `postmasterPid` at `deadlineMs` (monotonic ms, see `monotonicMs`) unless re-armed or disarmed. */
  arm(deadlineMs: number, postmasterPid: number): void {
    this.#armed = { deadlineMs, pid: postmasterPid };
    this.#send(`arm ${BigInt(Math.floor(deadlineMs)) * 1_000_000n} ${postmasterPid}`);
  }

  disarm(): void {
    if (!this.#armed) return;
    this.#armed = null;
    this.#send('disarm');
  }

  /** Disarms and lets the child exit (graceful shutdown only). */
  stop(): void {
    this.disarm();
    this.#stopping = true;
    this.#child?.stdin?.end();
    this.#child = null;
  }
}
