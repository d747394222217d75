import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { monotonicMs } from '../../../src/dcs/lease.js';
import { FencingWatchdog } from '../../../agent/watchdog.js';
import { fakePostmaster, sleep } from './fake-postmaster.js';

// Real watchdog processes against a stand-in postmaster (bash named `postgres`).
const dir = mkdtempSync(join(tmpdir(), 'sy-watchdog-'));
const children: ChildProcess[] = [];
const watchdogs: FencingWatchdog[] = [];
after(() => {
  for (const w of watchdogs) w.stop();
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function postmaster(): ChildProcess {
  const c = fakePostmaster(join(dir, 'data'));
  children.push(c);
  return c;
}

function exited(c: ChildProcess, ms: number): Promise<boolean> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    c.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function watchdog(tokenFile: string, options: { maxRestartsPerMinute?: number } = {}): FencingWatchdog {
  const w = new FencingWatchdog({ tokenFile, ...options });
  watchdogs.push(w);
  return w;
}

test('the watchdog stops the postmaster at its deadline', async () => {
  const pm = postmaster();
  const w = watchdog(join(dir, 'a.token'));
  w.start();
  await sleep(300);
  w.arm(monotonicMs() + 300, pm.pid as number);
  assert.equal(await exited(pm, 3000), true);
});

test("an orphaned watchdog of an earlier agent instance never fences its successor's primary", async () => {
  const pm = postmaster();
  const token = join(dir, 'b.token');
  const old = watchdog(token);
  old.start();
  await sleep(300);
  old.arm(monotonicMs() + 800, pm.pid as number);
  // The agent crashed; a new agent instance on the same node starts its own watchdog.
  const successor = watchdog(token);
  successor.start();
  await sleep(300);
  assert.equal(await exited(pm, 1500), false, 'the orphan fenced the successor primary');
});

test('a killed watchdog process is restarted and keeps its deadline', async () => {
  const pm = postmaster();
  const w = watchdog(join(dir, 'c.token'));
  const restarts: string[] = [];
  w.onRestarted = (r) => restarts.push(r);
  w.start();
  await sleep(300);
  w.arm(monotonicMs() + 1500, pm.pid as number);
  process.kill(w.pid as number, 'SIGKILL');
  assert.equal(await exited(pm, 4000), true, 'nobody fenced the postmaster after the watchdog died');
  assert.equal(restarts.length, 1);
  assert.match(restarts[0] as string, /exited \(SIGKILL\)/);
});

test('a watchdog that cannot be kept alive is reported dead', async () => {
  const w = watchdog(join(dir, 'd.token'), { maxRestartsPerMinute: 0 });
  const dead: string[] = [];
  w.onDead = (r) => dead.push(r);
  w.start();
  await sleep(300);
  process.kill(w.pid as number, 'SIGKILL');
  for (let i = 0; i < 50 && dead.length === 0; i++) await sleep(20);
  assert.equal(dead.length, 1);
  assert.equal(w.isAlive, false);
});
