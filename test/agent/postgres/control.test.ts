import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { PgControl } from '../../../agent/postgres/control.js';
import { parseAgentConfig } from '../../../agent/config/load.js';
import { fakePostmaster, sleep } from '../leadership/fake-postmaster.js';

const home = mkdtempSync(join(tmpdir(), 'sy-control-'));
const dataDir = join(home, 'data');
mkdirSync(dataDir);
// As root, PgControl runs PostgreSQL as the data directory's owner: any non-root owner will do here.
if (process.getuid?.() === 0) chownSync(dataDir, 65534, 65534);
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

const { config } = parseAgentConfig(
  `scope: s\nname: n1\nrestapi: {listen: 127.0.0.1:8008, connect_address: 127.0.0.1:8008, allow_unauthenticated_writes: true}\netcd3: {hosts: 127.0.0.1:2379}\npostgresql: {listen: 127.0.0.1:5432, connect_address: 127.0.0.1:5432, data_dir: ${dataDir}, authentication: {superuser: {username: a}, replication: {username: b}}}\n`,
  'node.yml',
);
const control = new PgControl(config);
const pidFile = (pid: number) => writeFileSync(join(dataDir, 'postmaster.pid'), `${pid}\n${dataDir}\n`);

test('a postmaster.pid naming a live process that is not PostgreSQL (a reused pid) is not "running"', () => {
  pidFile(process.pid);
  assert.equal(control.isRunning(), false);
  assert.equal(control.livePostmasterPid(), null);
});

test('a stale postmaster.pid (the postmaster was killed) is not "running"', async () => {
  const pm = fakePostmaster(dataDir);
  await sleep(100);
  const pid = pm.pid as number;
  pm.kill('SIGKILL');
  await new Promise((r) => pm.once('exit', r));
  pidFile(pid);
  assert.equal(control.isRunning(), false);
});

test("a postgres of another data directory under a reused pid is not this node's PostgreSQL", async () => {
  const pm = fakePostmaster('/var/lib/postgresql/other');
  children.push(pm);
  await sleep(100);
  pidFile(pm.pid as number);
  assert.equal(control.isRunning(), false);
});

test('the postmaster of this data directory is running', async () => {
  const pm = fakePostmaster(dataDir);
  children.push(pm);
  await sleep(100);
  pidFile(pm.pid as number);
  assert.equal(control.isRunning(), true);
  assert.equal(control.livePostmasterPid(), pm.pid);
});
