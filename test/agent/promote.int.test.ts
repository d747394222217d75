import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { awaitPromotion } from '../../agent/leadership/handover.js';
import { PgControl } from '../../agent/postgres/control.js';
import { PgQuery } from '../../agent/postgres/query.js';
import { parseAgentConfig } from '../../agent/config/load.js';
import { loopbackClient, startPostgres, waitFor, type PostgresServer } from '../harness/index.js';
import { nodeYaml } from './fixtures.js';

// A promote request that PostgreSQL takes while a walreceiver start is pending: the startup process cancels
// that start and sleeps out wal_retrieve_retry_interval (5 s), and nothing wakes it. In a switchover the
// window is the few milliseconds after the old primary went away; here the test widens it by stopping the
// standby's postmaster (SIGSTOP), so the walreceiver it was asked for cannot start.
let primary: PostgresServer;
let standby: PostgresServer;
let session: pg.Client;
let query: PgQuery;

before(async () => {
  primary = await startPostgres();
  standby = await startPostgres({ standbyOf: primary });
  // Opened now: while the postmaster is stopped, no new connection is possible.
  session = loopbackClient({ port: standby.port, connectTimeoutMs: 3000, queryTimeoutMs: 5000 });
  await session.connect();
});

after(async () => {
  const pm = standby?.pid();
  if (pm) process.kill(pm, 'SIGCONT');
  await session?.end().catch(() => undefined);
  await query?.close();
  await standby?.stop();
  await primary?.stop();
});

async function startupProcess(): Promise<{ pid: number; wait: string | null }> {
  const r = await session.query<{ pid: number; wait_event: string | null }>(
    "SELECT pid, wait_event FROM pg_stat_activity WHERE backend_type = 'startup'",
  );
  const row = r.rows[0];
  assert.ok(row, 'the standby has a startup process');
  return { pid: row.pid, wait: row.wait_event };
}

const sleepingOutRetry = async () => (await startupProcess()).wait === 'RecoveryRetrieveRetryInterval';

test('a promotion PostgreSQL took while a walreceiver start was pending finishes in well under its 5 s retry sleep', async () => {
  const { config } = parseAgentConfig(
    nodeYaml(', allow_unauthenticated_writes: true', '', standby),
    'node.yml',
  );
  const control = new PgControl(config);
  query = new PgQuery(config);

  await primary.stopServer();
  // The standby lost its primary, failed to reconnect at once and sleeps before the next attempt.
  await waitFor(sleepingOutRetry, { timeoutMs: 10_000, intervalMs: 20, what: 'the retry sleep' });
  const postmaster = standby.pid();
  assert.ok(postmaster, 'the standby postmaster is running');
  const promoteFile = join(standby.dataDir, 'promote');
  process.kill(postmaster, 'SIGSTOP');
  try {
    // The sleep ends; the startup process asks the (stopped) postmaster for a walreceiver and waits for it.
    await waitFor(async () => (await startupProcess()).wait === 'RecoveryWalStream', {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: 'the startup process waiting for a walreceiver',
    });
    // The promote request as the postmaster hands it on: the file, then SIGUSR2 to the startup process.
    writeFileSync(promoteFile, '');
    const owner = statSync(standby.dataDir);
    chownSync(promoteFile, owner.uid, owner.gid);
    process.kill((await startupProcess()).pid, 'SIGUSR2');
    // The trap: the request is taken (the file is gone) and the startup process sleeps again.
    await waitFor(async () => !existsSync(promoteFile) && (await sleepingOutRetry()), {
      timeoutMs: 3000,
      intervalMs: 10,
      what: 'the promote request taken and the startup process asleep',
    });
  } finally {
    process.kill(postmaster, 'SIGCONT');
  }
  const t0 = Date.now();
  await awaitPromotion(control, query, 10_000);
  const took = Date.now() - t0;
  assert.ok(took < 1500, `left recovery ${took} ms after the wait began (the unwoken sleep lasts ~5 s)`);
  const rows = await standby.sql<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
  assert.equal(rows[0]?.r, false, 'the standby is a primary now');
});
