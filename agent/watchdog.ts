import { spawn, type ChildProcess } from 'node:child_process';

/**
 * The fencing watchdog: a separate process, in its own process group, that stops PostgreSQL (SIGQUIT to the
 * postmaster = immediate shutdown) when the agent has not renewed its leader lease in time. It covers what
 * the agent cannot do itself: a frozen agent (SIGSTOP, long GC, swapped out), a killed agent (kill -9) or a
 * blocked event loop. Patroni relies on a hardware/softdog watchdog for this; without one, a frozen Patroni
 * 3.0.2 kept a writable primary after another node was promoted.
 *
 * Protocol on stdin, one line each: `arm <deadline_ns> <postmaster_pid>` (deadline on CLOCK_MONOTONIC, shared
 * by all processes of the host), `disarm`. When stdin closes while armed the deadline still holds.
 */
const CHILD = String.raw`
const fs = require('node:fs');
let deadline = null, pid = 0, closed = false, buf = '';
const isPostmaster = (p) => { try { return /postgres|postmaster/.test(fs.readFileSync('/proc/' + p + '/cmdline', 'utf8')); } catch { return false; } };
function fence() {
  if (pid > 0 && isPostmaster(pid)) { try { process.kill(pid, 'SIGQUIT'); } catch {} }
  try { process.stdout.write('fenced ' + pid + '\n'); } catch {}
  deadline = null;
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
`;

export class FencingWatchdog {
  #child: ChildProcess | null = null;
  #armed = false;
  onFenced: (pid: number) => void = () => undefined;

  start(): void {
    if (this.#child) return;
    const child = spawn(process.execPath, ['-e', CHILD], {
      detached: true,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    child.stdout?.on('data', (d: Buffer) => {
      const m = /fenced (\d+)/.exec(d.toString());
      if (m) this.onFenced(Number(m[1]));
    });
    child.stdin?.on('error', () => undefined);
    child.unref();
    (child.stdout as unknown as { unref?: () => void })?.unref?.();
    this.#child = child;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get isArmed(): boolean {
    return this.#armed;
  }

  /** Fence `postmasterPid` at `deadlineMs` (monotonic ms, see `monotonicMs`) unless re-armed or disarmed. */
  arm(deadlineMs: number, postmasterPid: number): void {
    this.#armed = true;
    this.#child?.stdin?.write(`arm ${BigInt(Math.floor(deadlineMs)) * 1_000_000n} ${postmasterPid}\n`);
  }

  disarm(): void {
    if (!this.#armed) return;
    this.#armed = false;
    this.#child?.stdin?.write('disarm\n');
  }

  /** Disarms and lets the child exit (graceful shutdown only). */
  stop(): void {
    this.disarm();
    this.#child?.stdin?.end();
    this.#child = null;
  }
}
