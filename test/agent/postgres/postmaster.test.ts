// A killed postmaster can stay in the process table (a zombie until reaped) and PostgreSQL refuses to
// start while the pid in postmaster.pid exists. The agent waits for it, bounded, and never counts it as a
// failed start or rewind (a crash failover once left a node stopped for good that way).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { OldPostmasterNotGone, awaitOldPostmasterExit } from '../../../agent/postgres/postmaster.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-postmaster-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const pidFile = (pid: number) => writeFileSync(join(dir, 'postmaster.pid'), `${pid}\n${dir}\n`);

test('a postmaster.pid whose pid has left the process table is no reason to wait', async () => {
  const child = spawn('true');
  await new Promise((r) => child.on('exit', r));
  pidFile(child.pid as number);
  const started = Date.now();
  await awaitOldPostmasterExit(dir, 2000);
  assert.ok(Date.now() - started < 500);
});

test('the wait ends as soon as the old pid is gone, and gives up (retry later) when it stays', async () => {
  const child = spawn('sleep', ['30']);
  try {
    pidFile(child.pid as number);
    await assert.rejects(awaitOldPostmasterExit(dir, 200), OldPostmasterNotGone);
    const waiting = awaitOldPostmasterExit(dir, 5000);
    setTimeout(() => child.kill('SIGKILL'), 150);
    const started = Date.now();
    await waiting;
    assert.ok(Date.now() - started < 2000, 'returned once the process was gone');
  } finally {
    child.kill('SIGKILL');
  }
});
