import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { after, before, test } from 'node:test';
import { sleep, sqlQuery, startPostgres, waitFor, type PostgresServer } from '../../harness/index.js';
import { markerPath } from '../../../src/targets/pgbouncer/marker.js';
import { startPgBouncerBed, type PgBouncerBed } from './bed.js';
import { snapshot, view } from './fixtures.js';

// Start-up of the PgBouncer target against a real PgBouncer 1.18 and PostgreSQL 15: a router that
// starts while etcd is unreachable, and a PgBouncer that starts only once the router wrote its routes.
let pg: PostgresServer;
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  await pg?.stop();
});

const databases = { app: { cluster: 'demo', dbname: 'postgres' } };

async function isPaused(bed: PgBouncerBed): Promise<boolean> {
  const rows = await bed.bouncer.adminQuery('SHOW DATABASES');
  return Number(rows.find((r) => r['name'] === 'app')?.['paused']) === 1;
}

test('a router started while etcd is unreachable resumes what a killed router left paused, not what a live switchover holds', async () => {
  const bed = await startPgBouncerBed(`[databases]\napp = host=127.0.0.1 port=${pg.port} dbname=postgres\n`);
  const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const dead = bed.target({ databases });
    await dead.apply(snapshot(1, view('demo', { name: 'pg1', port: pg.port })));
    await dead.apply(snapshot(2, view('demo', null)));
    await dead.control.close(); // kill -9: no close(), no RESUME
    assert.equal(await isPaused(bed), true);
    // A switchover in progress (its process alive, deadline ahead) holds app: not to be resumed under it.
    writeFileSync(
      markerPath(bed.routesPath),
      JSON.stringify({
        pid: holder.pid,
        host: hostname(),
        cluster: 'demo',
        databases: ['app'],
        deadlineAt: Date.now() + 60_000,
      }),
    );
    const fresh = bed.target({ databases });
    await fresh.start(); // no snapshot follows: etcd is unreachable
    try {
      await sleep(3500);
      assert.equal(await isPaused(bed), true, 'a live switchover keeps its pause');
      holder.kill('SIGKILL'); // the switchover dies: its marker is stale
      await waitFor(async () => !(await isPaused(bed)), {
        what: 'app resumed without any etcd read',
        timeoutMs: 5000,
        intervalMs: 100,
      });
      const rows = await sqlQuery({ port: bed.bouncer.port, database: 'app' }, 'select 1 as one');
      assert.equal(rows[0]?.['one'], 1, 'clients get through');
    } finally {
      await fresh.close();
    }
  } finally {
    holder.kill('SIGKILL');
    await bed.stop();
  }
});

test('include mode bootstraps in any order: the router writes the routes while PgBouncer is down, PgBouncer starts on them and routes', async () => {
  const bed = await startPgBouncerBed(null, {}, { isStarted: false });
  try {
    const target = bed.target({ databases });
    await target.start();
    await assert.rejects(target.apply(snapshot(1, view('demo', { name: 'pg1', port: pg.port }))), {
      code: 'SY_ERR_ADMIN_CONSOLE',
      message:
        /^wrote .*routes\.ini \(routes app to 127\.0\.0\.1:\d+\), but PgBouncer's admin console does not answer/,
    });
    assert.ok(existsSync(bed.routesPath), 'the routing file exists before PgBouncer starts');
    assert.match(
      readFileSync(bed.routesPath, 'utf8'),
      new RegExp(`^app = host=127\\.0\\.0\\.1 port=${pg.port} `, 'm'),
    );
    await bed.start();
    const rows = await sqlQuery(
      { port: bed.bouncer.port, database: 'app' },
      'select inet_server_port() as port',
    );
    assert.equal(Number(rows[0]?.['port']), pg.port, 'PgBouncer routes from its first start');
    // The router's retry: the console answers now, SHOW DATABASES verifies the routes.
    const r = await target.apply(snapshot(1, view('demo', { name: 'pg1', port: pg.port })));
    assert.match(r.summary, /^pgbouncer already routes app to 127\.0\.0\.1:\d+ \(generation 1\)$/);
    await target.close();
  } finally {
    await bed.stop();
  }
});
