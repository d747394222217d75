import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { sleep, sqlQuery, startPostgres, type PostgresServer } from '../harness/index.js';
import { PgBouncerControl } from '../../src/targets/pgbouncer/control.js';
import { startPgBouncerBed, type PgBouncerBed } from './pgbouncer-bed.js';
import { startLoad } from './pgbouncer-load.js';
import { snapshot, view } from './pgbouncer-fixtures.js';

describe('PgBouncer target against a real PgBouncer 1.18 and two PostgreSQL servers', () => {
  let a: PostgresServer;
  let b: PostgresServer;
  let bed: PgBouncerBed;
  const pgA = () => ({ name: 'pga', port: a.port });
  const pgB = () => ({ name: 'pgb', port: b.port });
  const port = () =>
    sqlQuery({ port: bed.bouncer.port, database: 'app' }, 'select inet_server_port() as port').then((r) =>
      Number(r[0]?.['port']),
    );
  let generation = 0;
  const snap = (leader: { name: string; port: number } | null) =>
    snapshot(++generation, view('demo', leader));

  before(async () => {
    a = await startPostgres();
    b = await startPostgres();
    bed = await startPgBouncerBed(`[databases]\napp = host=127.0.0.1 port=${a.port} dbname=postgres\n`);
  });
  after(async () => {
    await bed?.stop();
    await a?.stop();
    await b?.stop();
  });

  test('repoints app to the new primary and verifies it with SHOW DATABASES', async () => {
    const target = bed.target({ databases: { app: { cluster: 'demo', dbname: 'postgres' } } });
    try {
      const first = await target.apply(snap(pgA()));
      assert.match(
        first.summary,
        /^rewrote .*routes\.ini \(RELOAD verified\) \(generation \d+\)$|^pgbouncer already routes/,
      );
      assert.equal(await port(), a.port);
      const moved = await target.apply(snap(pgB()));
      assert.match(
        moved.summary,
        new RegExp(
          `^paused app \\(\\d+ ms\\); repointed app to pgb:${b.port} \\(RELOAD verified\\); resumed app after \\d+ ms \\(generation \\d+\\)$`,
        ),
      );
      assert.equal(await port(), b.port);
      const live = await bed.bouncer.adminQuery('SHOW DATABASES');
      const row = live.find((r) => r['name'] === 'app');
      assert.equal(Number(row?.['port']), b.port);
      assert.equal(Number(row?.['paused']), 0);
    } finally {
      await target.close();
    }
  });

  test('clients wait through leader loss instead of failing, then land on the new primary', async () => {
    const target = bed.target({ databases: { app: { cluster: 'demo', dbname: 'postgres' } } });
    try {
      await target.apply(snap(pgA()));
      const load = startLoad({
        port: bed.bouncer.port,
        database: 'app',
        clients: 6,
        longTransactionSeconds: 0.3,
      });
      await sleep(500);
      const lost = await target.apply(snap(null));
      assert.match(lost.summary, /^paused app \(\d+ ms\) \(generation \d+\)$/);
      await sleep(1000);
      const back = await target.apply(snap(pgB()));
      assert.match(back.summary, /repointed app to pgb:\d+ \(RELOAD verified\); resumed app after \d+ ms/);
      await sleep(500);
      const report = await load.stop();
      assert.deepEqual(report.errors, []);
      assert.deepEqual(report.ports, [a.port, b.port]);
      assert.ok(report.maxLatencyMs >= 900, `clients waited (max latency ${report.maxLatencyMs} ms)`);
      assert.ok(report.maxLatencyMs < 5000, `max latency ${report.maxLatencyMs} ms`);
    } finally {
      await target.close();
    }
  });

  test('a PAUSE stalled by a long transaction becomes KILL; the database is resumed once routed', async () => {
    const target = bed.target({
      databases: { app: { cluster: 'demo', dbname: 'postgres' } },
      timeouts: { pause_ms: 500 },
    });
    try {
      await target.apply(snap(pgB()));
      const long = sqlQuery(
        { port: bed.bouncer.port, database: 'app' },
        'begin; select pg_sleep(20); commit',
      ).then(
        () => 'finished',
        (err: Error) => err.message,
      );
      await sleep(300);
      const lost = await target.apply(snap(null));
      assert.match(lost.summary, /^killed app \(PAUSE stalled after \d+ ms\) \(generation \d+\)$/);
      assert.notEqual(await long, 'finished');
      const back = await target.apply(snap(pgA()));
      assert.match(back.summary, /resumed app/);
      assert.equal(await port(), a.port);
    } finally {
      await target.close();
    }
  });

  test('a target starting fresh resumes what a killed router left paused', async () => {
    const dead = bed.target({ databases: { app: { cluster: 'demo', dbname: 'postgres' } } });
    await dead.apply(snap(pgA()));
    await dead.apply(snap(null));
    await dead.control.close(); // kill -9: no close(), no RESUME; only its socket goes away
    const paused = await bed.bouncer.adminQuery('SHOW DATABASES');
    assert.equal(Number(paused.find((r) => r['name'] === 'app')?.['paused']), 1);
    const fresh = bed.target({ databases: { app: { cluster: 'demo', dbname: 'postgres' } } });
    try {
      const r = await fresh.apply(snap(pgA()));
      assert.match(r.summary, /resumed app/);
      assert.equal(await port(), a.port);
    } finally {
      await fresh.close();
    }
  });

  test('RESUME on a database that is not paused counts as success', async () => {
    const control = new PgBouncerControl({
      host: '127.0.0.1',
      port: bed.bouncer.port,
      user: 'pgbouncer_admin',
      connectTimeoutMs: 2000,
      commandTimeoutMs: 2000,
    });
    try {
      assert.equal(await control.resume('app'), false);
    } finally {
      await control.close();
    }
  });

  test('a routing file PgBouncer cannot read is caught by the SHOW DATABASES check, and owner fixes it', async () => {
    process.env['SY_INT_PGB_PW'] = "s3cret'; %include /etc/shadow";
    // A separate entry: adding `user=` to a database that already has pools crashes PgBouncer on RELOAD (pgbouncer#41).
    const databases = {
      app: { cluster: 'demo', dbname: 'postgres' },
      secure: { cluster: 'demo', dbname: 'postgres', user: 'postgres', password_env: 'SY_INT_PGB_PW' },
    };
    const unreadable = bed.target({ databases });
    try {
      await assert.rejects(unreadable.apply(snap(pgB())), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'SY_ERR_RELOAD_FAILED');
        assert.match(
          err.message,
          /PgBouncer did not apply .*routes\.ini: app is 127\.0\.0\.1:\d+\/postgres, expected 127\.0\.0\.1:\d+\/postgres /,
        );
        assert.doesNotMatch(err.message, /s3cret/);
        return true;
      });
      assert.equal(statSync(bed.routesPath).mode & 0o777, 0o600);
      const owned = bed.target({ databases, owner: 'postgres' });
      try {
        const r = await owned.apply(snap(pgB()));
        assert.match(r.summary, /repointed app to pgb/);
        assert.equal(
          statSync(bed.routesPath).uid,
          Number((await import('../harness/index.js')).postgresUser().uid),
        );
        assert.equal(await port(), b.port);
        const secure = await sqlQuery(
          { port: bed.bouncer.port, database: 'secure' },
          'select current_user as u',
        );
        assert.equal(secure[0]?.['u'], 'postgres');
      } finally {
        await owned.close();
      }
    } finally {
      await unreadable.close();
      delete process.env['SY_INT_PGB_PW'];
    }
  });
});
