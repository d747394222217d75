import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  sqlQuery,
  startPgbouncer,
  startPostgres,
  type PgbouncerInstance,
  type PostgresServer,
} from '../../harness/index.js';
import { reloadPgcat, verifyPgcat } from '../../../src/targets/pgcat/reload.js';

// pgcat is not installable here. Its admin console speaks the same PostgreSQL protocol as PgBouncer's and
// answers `SHOW DATABASES` with the same columns (pgcat src/admin.rs), naming rows `<pool>_shard_0_primary`.
// These tests run the admin code path of the pgcat target against PgBouncer with databases named that way:
// they check the protocol, the RELOAD call and the row parsing, not pgcat itself.
let pg: PostgresServer;
let bouncer: PgbouncerInstance;
const consoleOf = () => ({
  host: '127.0.0.1',
  port: bouncer.port,
  user: bouncer.adminUser,
  connectTimeoutMs: 2000,
  commandTimeoutMs: 2000,
});

before(async () => {
  pg = await startPostgres();
  bouncer = await startPgbouncer({
    databases: { app_shard_0_primary: `host=127.0.0.1 port=${pg.port} dbname=postgres` },
  });
});
after(async () => {
  await bouncer?.stop();
  await pg?.stop();
});

test('RELOAD on the admin console succeeds', async () => {
  assert.equal(await reloadPgcat({ method: 'admin' }, consoleOf(), 2000), 'RELOAD');
});

test('SHOW DATABASES verification accepts the intended primary', async () => {
  const primaries = new Map([
    ['app', { member: 'pg1', host: '127.0.0.1', port: pg.port, role: 'primary' as const }],
  ]);
  await verifyPgcat(consoleOf(), primaries, 500);
  assert.equal(
    (await sqlQuery({ port: bouncer.port, database: 'app_shard_0_primary' }, 'select 1 as x'))[0]?.['x'],
    1,
  );
});

test('SHOW DATABASES verification names the pool that points elsewhere, within its deadline', async () => {
  const primaries = new Map([
    ['app', { member: 'pg2', host: '127.0.0.1', port: pg.port + 1, role: 'primary' as const }],
  ]);
  const started = Date.now();
  await assert.rejects(verifyPgcat(consoleOf(), primaries, 600), {
    code: 'SY_ERR_RELOAD_FAILED',
    message: `pgcat did not apply the new pgcat.toml within 600 ms: app primary is 127.0.0.1:${pg.port}, expected 127.0.0.1:${pg.port + 1}`,
  });
  assert.ok(Date.now() - started < 3000);
});

test('a pool without a primary row is reported', async () => {
  const primaries = new Map([
    ['jobs', { member: 'pg1', host: '127.0.0.1', port: pg.port, role: 'primary' as const }],
  ]);
  await assert.rejects(verifyPgcat(consoleOf(), primaries, 300), { message: /jobs has no primary row/ });
});
