import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  ProcessGroup,
  freePort,
  httpRequest,
  sleep,
  sqlQuery,
  startEtcd,
  startPatroniCluster,
  startPostgres,
  waitFor,
  type EtcdCluster,
  type PatroniCluster,
  type PostgresServer,
} from '../../harness/index.js';
import { runSwitchover, type SwitchoverOptions } from '../../../src/cli/switchover.js';
import { PgBouncerControl } from '../../../src/targets/pgbouncer/control.js';
import { markerPath } from '../../../src/targets/pgbouncer/marker.js';
import { holdPostgres, type HoldEnd } from '../../../src/router/leader-health/liveness.js';
import { STACK } from '../../harness/stack.js';
import {
  lineCollector,
  startBedRouter,
  startPgBouncerBed,
  writeBedRouterConfig,
  type PgBouncerBed,
} from './bed.js';
import { isInFlightError, startLoad } from './load.js';
import { snapshot, view } from './fixtures.js';

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
  /** The marker of a live `switchyard switchover` (process `pid`) holding demo's `app`, moving away from pga. */
  const writeCommandMarker = (pid: number | undefined) =>
    writeFileSync(
      markerPath(bed.routesPath),
      JSON.stringify({
        pid,
        host: hostname(),
        cluster: 'demo',
        from: 'pga',
        databases: ['app'],
        deadlineAt: Date.now() + 60_000,
      }),
    );
  /** Applies pga as the leader: `target` resumes app and clients reach pga. */
  const expectResumedOnA = async (target: {
    apply: (s: ReturnType<typeof snap>) => Promise<{ summary: string }>;
  }) => {
    const r = await target.apply(snap(pgA()));
    assert.match(r.summary, /resumed app/);
    assert.equal(await port(), a.port);
  };

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

  test('routeWhilePaused repoints a paused database and leaves it paused; it refuses one that is not paused', async () => {
    const target = bed.target({ databases: { app: { cluster: 'demo', dbname: 'postgres' } } });
    const control = target.control;
    try {
      await target.apply(snap(pgA()));
      await assert.rejects(
        target.routeWhilePaused(snap(pgB())),
        /will not repoint app ahead of the new primary: not paused/,
      );
      assert.equal(await port(), a.port, 'a running database is never moved ahead of time');
      assert.equal((await control.pause('app', 5000)).isPaused, true);
      const ahead = await target.routeWhilePaused(snap(pgB()));
      assert.match(
        ahead.summary,
        new RegExp(`^repointed app to pgb:${b.port} while paused \\(RELOAD verified; generation \\d+\\)$`),
      );
      const row = (await bed.bouncer.adminQuery('SHOW DATABASES')).find((r) => r['name'] === 'app');
      assert.equal(Number(row?.['port']), b.port);
      assert.equal(Number(row?.['paused']), 1, 'still paused: only RESUME is left');
      // The check before RESUME: already routed, so neither the file (a router may have rewritten it) nor
      // PgBouncer is touched while clients wait.
      const rewritten = `; rewritten by a router\n${readFileSync(bed.routesPath, 'utf8')}`;
      writeFileSync(bed.routesPath, rewritten);
      const again = await target.routeWhilePaused(snap(pgB()));
      assert.equal(again.didChange, false);
      assert.match(again.summary, /^pgbouncer already routes app to /);
      assert.equal(readFileSync(bed.routesPath, 'utf8'), rewritten, 'the file is left as it is');
      assert.equal(await control.resume('app'), true);
      assert.equal(await port(), b.port);
    } finally {
      await control.resume('app').catch(() => undefined);
      await target.close();
    }
  });

  test("the router leaves a live switchover's databases to it: no move back, no fence; RESUME only once routed to a new writable leader, or once its marker is stale", async () => {
    const target = bed.target({ databases: { app: { cluster: 'demo', dbname: 'postgres' } } });
    const control = target.control;
    // The command is another process: a live pid in the marker (the marker's own process is not yielded to).
    const command = spawn('sleep', ['30'], { stdio: 'ignore' });
    const liveApp = async () =>
      (await bed.bouncer.adminQuery('SHOW DATABASES')).find((x) => x['name'] === 'app');
    try {
      await target.apply(snap(pgA()));
      writeCommandMarker(command.pid);
      assert.equal((await control.pause('app', 5000)).isPaused, true);
      // The command has written its file but not RELOADed yet when the router applies its older view
      // (live: pga): the router leaves the file alone, not rewriting it from the live entries it read.
      const [commandFile] = await target.preview(snap(pgB()));
      writeFileSync(bed.routesPath, commandFile?.contents ?? '');
      const early = await target.apply(snap(pgA()));
      assert.equal(readFileSync(bed.routesPath, 'utf8'), commandFile?.contents, early.summary);
      await target.routeWhilePaused(snap(pgB()));
      // The router's view still has pga writable (it has not seen pga stop yet), then no leader at all.
      for (const leader of [pgA(), null]) {
        const r = await target.apply(snap(leader));
        assert.doesNotMatch(r.summary, /repointed|resumed|paused/, r.summary);
        const row = await liveApp();
        assert.equal(Number(row?.['port']), b.port, 'still pointed where the switchover put it');
        assert.equal(Number(row?.['paused']), 1, 'still paused');
      }
      const routed = await target.apply(snap(pgB()));
      assert.match(routed.summary, /resumed app \(its switchover routed it to the writable leader pgb\)/);
      assert.equal(await port(), b.port);

      // A switchover that dies (its process gone) while holding the pause. Its marker names no leader it
      // leaves (an older version's), so only its end lets the router act; no new snapshot comes: the
      // router's own re-check while it yields resumes the database.
      const { from: _from, ...older } = JSON.parse(readFileSync(markerPath(bed.routesPath), 'utf8'));
      writeFileSync(markerPath(bed.routesPath), JSON.stringify(older));
      assert.equal((await control.pause('app', 5000)).isPaused, true);
      await target.apply(snap(pgB()));
      await sleep(500);
      assert.equal(Number((await liveApp())?.['paused']), 1, 'held while the switchover lives');
      command.kill('SIGKILL');
      await new Promise((res) => command.once('exit', res));
      await waitFor(async () => Number((await liveApp())?.['paused']) === 0, {
        timeoutMs: 3000,
        intervalMs: 50,
        what: 'the router resuming app after the switchover died, without a new snapshot',
      });
      assert.equal(await port(), b.port);
    } finally {
      command.kill('SIGKILL');
      rmSync(markerPath(bed.routesPath), { force: true });
      await control.resume('app').catch(() => undefined);
      await target.close();
    }
  });

  test("another cluster's lost leader waits paused while a switchover holds the routing file: no RESUME before PgBouncer routes it to the new leader", async () => {
    const target = bed.target({
      databases: {
        app: { cluster: 'demo', dbname: 'postgres' },
        app2: { cluster: 'other', dbname: 'postgres' },
      },
    });
    const control = target.control;
    const command = spawn('sleep', ['30'], { stdio: 'ignore' });
    const both = (other: { name: string; port: number } | null) =>
      snapshot(++generation, view('demo', pgA()), view('other', other));
    const app2 = async () =>
      (await bed.bouncer.adminQuery('SHOW DATABASES')).find((x) => x['name'] === 'app2');
    try {
      await target.apply(both(pgA()));
      writeCommandMarker(command.pid);
      const lost = await target.apply(both(null));
      assert.match(lost.summary, /paused app2/);
      const back = await target.apply(both(pgB()));
      assert.doesNotMatch(back.summary, /resumed app2|repointed app2/, back.summary);
      assert.equal(Number((await app2())?.['paused']), 1, 'still paused: PgBouncer still routes it to pga');
      assert.equal(Number((await app2())?.['port']), a.port);

      command.kill('SIGKILL');
      await new Promise((res) => command.once('exit', res));
      const ended = await target.apply(both(pgB()));
      assert.match(ended.summary, /repointed app2 to pgb:\d+ \(RELOAD verified\); resumed app2 after \d+ ms/);
      const rows = await sqlQuery(
        { port: bed.bouncer.port, database: 'app2' },
        'select inet_server_port() as port',
      );
      assert.equal(Number(rows[0]?.['port']), b.port);
    } finally {
      command.kill('SIGKILL');
      rmSync(markerPath(bed.routesPath), { force: true });
      await control.resume('app2').catch(() => undefined);
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
      await expectResumedOnA(target);
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
      await expectResumedOnA(fresh);
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
      // trixie stack: PgBouncer runs as the root's own postgres user, whose uid is not the host's
      const pg = (await import('../../harness/index.js')).postgresUser();
      const owner = STACK === 'trixie' ? `${pg.uid}:${pg.gid}` : 'postgres';
      const owned = bed.target({ databases, owner });
      try {
        const r = await owned.apply(snap(pgB()));
        assert.match(r.summary, /repointed app to pgb/);
        assert.equal(
          statSync(bed.routesPath).uid,
          Number((await import('../../harness/index.js')).postgresUser().uid),
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

test('liveness hold: the held session ends when the postmaster is killed; a wrong database is a login error', async () => {
  const server = await startPostgres();
  try {
    const endpoint = { host: '127.0.0.1', port: server.port, member: 'pg' };
    const login = { user: 'postgres', dbname: 'postgres', password: undefined };
    const refused = await new Promise<HoldEnd>((resolve) => {
      holdPostgres({ ...login, dbname: 'no_such_db' }, 2000)(endpoint, resolve);
    });
    assert.match(refused.loginError ?? '', /database "no_such_db" does not exist/);

    const ends: HoldEnd[] = [];
    const release = holdPostgres(login, 2000)(endpoint, (e) => ends.push(e));
    try {
      await waitFor(
        async () =>
          (
            await server.sql(
              "select count(*)::int as n from pg_stat_activity where application_name = 'switchyard-liveness'",
            )
          )[0]?.['n'] === 1,
        { what: 'the held session in pg_stat_activity', timeoutMs: 5000 },
      );
      // Only the postmaster: its backends, the held one included, exit on their own when they notice.
      process.kill(server.pid() as number, 'SIGKILL');
      await waitFor(() => ends.length === 1, { what: 'the held session to end', timeoutMs: 5000 });
      assert.deepEqual(ends, [{ wasEstablished: true }], 'an ended session, not a login error');
    } finally {
      release();
    }
  } finally {
    await server.stop();
  }
});

describe('PgBouncer with a real Patroni 3.0.2 cluster, the router and `switchyard switchover`', () => {
  let etcd: EtcdCluster;
  let cluster: PatroniCluster;
  let bed: PgBouncerBed;
  let routerGroup: ProcessGroup;
  let configPath: string;
  const REST = { username: 'patroni-admin', password: 'rest-pw' };
  const nodePort = (name: string) => cluster.nodes.find((n) => n.name === name)?.pgPort;
  const appRow = async () =>
    (await bed.bouncer.adminQuery('SHOW DATABASES')).find((r) => r['name'] === 'app');
  const isPaused = async () => Number((await appRow())?.['paused']) === 1;
  const routedPort = async () => Number((await appRow())?.['port']);
  /** Waits for a healthy cluster and for PgBouncer's `app` to point at its leader; returns the leader. */
  const routedToLeader = async (): Promise<string> => {
    await cluster.waitForHealthy({ timeoutMs: 60_000 });
    const leader = await cluster.waitForLeader();
    await waitFor(async () => (await routedPort()) === nodePort(leader), {
      what: `app routed to ${leader}`,
      timeoutMs: 20_000,
    });
    return leader;
  };

  const startRouter = () => startBedRouter(routerGroup, configPath, apiPort);
  let apiPort = 0;

  const switchover = (extra: Partial<SwitchoverOptions> = {}) => {
    const { lines, out } = lineCollector();
    const run = runSwitchover(
      {
        config: configPath,
        cluster: 'demo',
        timeoutSeconds: 30,
        restUsername: REST.username,
        restPasswordEnv: 'SY_INT_REST_PW',
        ...extra,
      },
      out,
    ).then(
      (code) => ({ code, error: null as (Error & { code?: string }) | null }),
      (error: Error & { code?: string }) => ({ code: null, error }),
    );
    return { lines, run };
  };

  before(async () => {
    process.env['SY_INT_REST_PW'] = REST.password;
    etcd = await startEtcd();
    cluster = await startPatroniCluster({ scope: 'demo', nodes: 3, etcd, restApiAuth: REST });
    const leader = await cluster.waitForLeader();
    await cluster.sql(leader, 'create table if not exists t (id bigserial primary key, v int)');
    bed = await startPgBouncerBed(
      `[databases]\napp = host=127.0.0.1 port=${nodePort(leader)} dbname=postgres\n`,
    );
    routerGroup = ProcessGroup.create('router');
    apiPort = await freePort();
    configPath = writeBedRouterConfig(bed, {
      etcdEndpoints: etcd.endpoints,
      apiPort,
      routing: { writable_probe: { method: 'sql' } },
      app: { read_only: { name: 'app_ro' } },
    });
    await startRouter();
  });

  after(async () => {
    await routerGroup?.cleanup();
    await bed?.stop();
    await cluster?.stop();
    await etcd?.stop();
    delete process.env['SY_INT_REST_PW'];
  });

  test('switchyard switchover moves clients to the new leader with 0 errors, then resumes', async (t) => {
    const old = await cluster.waitForLeader();
    assert.equal(await routedPort(), nodePort(old));
    const load = startLoad({
      port: bed.bouncer.port,
      database: 'app',
      clients: 8,
      statement: 'insert into t (v) values (1) returning inet_server_port() as port',
      longTransactionSeconds: 0.3,
    });
    await sleep(1000);
    const { lines, run } = switchover();
    const result = await run;
    await sleep(1000);
    const report = await load.stop();
    t.diagnostic(lines.join('\n'));
    t.diagnostic(
      `statements ${report.statements}, errors ${report.errors.length}, max latency ${report.maxLatencyMs} ms`,
    );
    assert.equal(result.error, null, `${result.error?.message}\n${lines.join('\n')}`);
    assert.equal(result.code, 0);
    const next = await cluster.waitForLeader();
    assert.notEqual(next, old);
    assert.deepEqual(report.errors, [], lines.join('\n'));
    assert.deepEqual(report.ports, [nodePort(old), nodePort(next)]);
    assert.equal(await routedPort(), nodePort(next));
    assert.equal(await isPaused(), false);
    for (const pattern of [
      // Patroni 3.0.2: no hook exists; 3.0.3 and later: the hook is not set here. Either way the command says so.
      /hint: pg\d runs Patroni \d+\.\d+\.\d+, which (has no hook before its stop|can hold its stop)/,
      /paused app/,
      /POST http/,
      /leader key released by/,
      /is writable/,
      /done: demo switched over to/,
    ]) {
      assert.ok(
        lines.some((l) => pattern.test(l)),
        `${pattern} in\n${lines.join('\n')}`,
      );
    }
    await cluster.waitForHealthy();
  });

  test('the read-only entry follows an eligible replica, and /status shows the target without warnings', async () => {
    const leader = await cluster.waitForLeader();
    await waitFor(
      async () => {
        const rows = await bed.bouncer.adminQuery('SHOW DATABASES');
        const port = Number(rows.find((r) => r['name'] === 'app_ro')?.['port']);
        return port !== nodePort(leader) && cluster.nodes.some((n) => n.pgPort === port);
      },
      { what: 'app_ro on a replica', timeoutMs: 20_000 },
    );
    const rows = await sqlQuery(
      { port: bed.bouncer.port, database: 'app_ro' },
      'select pg_is_in_recovery() as r',
    );
    assert.equal(rows[0]?.['r'], true);
    const status = JSON.parse((await httpRequest(`http://127.0.0.1:${apiPort}/status`)).body) as {
      targets: Record<string, { warnings?: string[]; paused?: unknown[]; mode?: string }>;
    };
    const pgb = status.targets['pgbouncer'];
    assert.equal(pgb?.mode, 'include');
    assert.deepEqual(pgb?.warnings, []);
    assert.deepEqual(pgb?.paused, []);
    assert.doesNotMatch(JSON.stringify(status), /rest-pw/);
  });

  test('a scheduled switchover pauses just before its time and resumes after it', async () => {
    const old = await cluster.waitForLeader();
    const at = new Date(Date.now() + 4000).toISOString().replace('Z', '+00:00');
    const { lines, run } = switchover({ scheduled: at });
    const result = await run;
    assert.equal(result.error, null, `${result.error?.message}\n${lines.join('\n')}`);
    const scheduledLine = lines.findIndex((l) => /Patroni scheduled the switchover/.test(l));
    const pausedLine = lines.findIndex((l) => /paused app/.test(l));
    assert.ok(scheduledLine >= 0 && pausedLine > scheduledLine, lines.join('\n'));
    const pausedAt = Number(/\[\s*(\d+) ms\]/.exec(lines[pausedLine] ?? '')?.[1]);
    assert.ok(pausedAt >= 2000, `paused ${pausedAt} ms after the start, not at once`);
    assert.notEqual(await cluster.waitForLeader(), old);
    assert.equal(await isPaused(), false);
    await cluster.waitForHealthy();
  });

  test('SIGINT while waiting for a scheduled switchover cancels it in Patroni; nothing stays paused', async () => {
    const old = await cluster.waitForLeader();
    const at = new Date(Date.now() + 60_000).toISOString().replace('Z', '+00:00');
    const child = spawnSwitchover(['--scheduled', at]);
    try {
      await waitFor(() => /waiting \d+ s until just before the scheduled time/.test(child.output()), {
        what: 'the command to wait for the scheduled time',
        timeoutMs: 15_000,
        diagnose: child.output,
      });
      const apiUrl = cluster.nodes.find((n) => n.name === old)?.apiUrl as string;
      const scheduled = async () =>
        ((await httpRequest(`${apiUrl}/cluster`)).json as { scheduled_switchover?: unknown })
          .scheduled_switchover;
      assert.notEqual(await scheduled(), undefined);
      child.signal('SIGINT');
      assert.equal(await Promise.race([child.exited, sleep(15_000).then(() => 'still running')]), 1);
      assert.match(child.output(), /cancelled the scheduled switchover: 200/);
      assert.equal(await scheduled(), undefined);
      assert.equal(await isPaused(), false);
      assert.equal(await cluster.waitForLeader(), old);
    } finally {
      child.kill9();
    }
  });

  test('a REST call that fails (401) resumes PgBouncer and reports', async () => {
    const { lines, run } = switchover({ restPasswordEnv: 'SY_INT_NO_SUCH_VAR' });
    const result = await run;
    assert.equal(result.error?.code, 'SY_ERR_SWITCHOVER');
    assert.match(result.error?.message ?? '', /Patroni did not switch over: 401/);
    assert.ok(
      lines.some((l) => /resumed app/.test(l)),
      lines.join('\n'),
    );
    assert.equal(await isPaused(), false);
  });

  test('a REST call that hangs (leader Patroni frozen) is bounded and PgBouncer resumed', async () => {
    const leader = await cluster.waitForLeader();
    cluster.sigstop(leader);
    try {
      const { lines, run } = switchover({ timeoutSeconds: 3 });
      const result = await run;
      assert.equal(result.error?.code, 'SY_ERR_SWITCHOVER');
      assert.match(result.error?.message ?? '', /no new writable leader within 3 s/);
      assert.ok(
        lines.some((l) => /resumed app/.test(l)),
        lines.join('\n'),
      );
      assert.equal(await isPaused(), false);
    } finally {
      cluster.sigcont(leader);
    }
    // Patroni may still serve the queued request once thawed: let the cluster settle either way.
    await sleep(3000);
    await cluster.waitForHealthy({ timeoutMs: 60_000 });
    await waitFor(
      async () => !(await isPaused()) && (await routedPort()) === nodePort(await cluster.waitForLeader()),
      {
        what: 'router to follow the settled leader',
        timeoutMs: 20_000,
      },
    );
  });

  test('killing the leader (Patroni and PostgreSQL) mid-switchover never leaves PgBouncer paused', async () => {
    const { lines, run } = switchover({ timeoutSeconds: 40 });
    await waitFor(() => lines.some((l) => /POST http/.test(l)), { what: 'the POST', timeoutMs: 10_000 });
    const killed = await cluster.killLeader();
    const result = await run;
    // The command resumed what it paused. PgBouncer may be paused again at once, by the router, which holds
    // a pause of its own while the leader is lost (its status names it): that pause is the router's, not one
    // left behind. The killed REST call fails at once (the socket closes with Patroni), so both orders occur.
    assert.ok(
      lines.some((l) => /resumed app|app was not paused|done: demo switched over/.test(l)),
      `the command did not resume app:\n${lines.join('\n')}`,
    );
    const routerHolds = async () =>
      (
        JSON.parse((await httpRequest(`http://127.0.0.1:${apiPort}/status`)).body) as {
          targets: Record<string, { paused?: { database: string }[] }>;
        }
      ).targets['pgbouncer']?.paused?.some((p) => p.database === 'app') === true;
    await waitFor(async () => !(await isPaused()) || (await routerHolds()), {
      what: 'app not paused, or paused by the router for the lost leader',
      timeoutMs: 2000,
    });
    if (result.error) assert.equal(result.error.code, 'SY_ERR_SWITCHOVER');
    const next = await cluster.waitForLeader({ not: killed, timeoutMs: 60_000 });
    await waitFor(async () => (await routedPort()) === nodePort(next) && !(await isPaused()), {
      what: `PgBouncer routed to ${next} and not paused`,
      timeoutMs: 20_000,
    });
    await cluster.startNode(killed);
    await cluster.waitForHealthy({ timeoutMs: 90_000 });
  });

  test('unplanned failover: the router pauses as the primary dies; only statements in flight fail', async (t) => {
    // Trixie: PgBouncer 1.24 fails new statements with its cached login error ~25 ms after the kill, before
    // the router's PAUSE, and Patroni 4 raises ttl to 20 s, past the load client's 20 s read timeout.
    if (STACK === 'trixie') return t.skip('PgBouncer 1.24 cached login errors; Patroni 4 ttl >= 20 s');
    const old = await routedToLeader();
    const load = startLoad({
      port: bed.bouncer.port,
      database: 'app',
      clients: 8,
      statement: 'insert into t (v) values (2) returning inet_server_port() as port',
      longTransactionSeconds: 0.3,
    });
    await sleep(1000);
    const killed = await cluster.killLeader();
    // killLeader returns right after SIGKILL reached PostgreSQL: a statement started later was not in flight.
    const killedAt = Date.now();
    try {
      const next = await cluster.waitForLeader({ not: killed, timeoutMs: 60_000 });
      await waitFor(async () => (await routedPort()) === nodePort(next) && !(await isPaused()), {
        what: `app routed to ${next}`,
        timeoutMs: 20_000,
      });
      await sleep(1000);
      const report = await load.stop();
      const explain = (i: number) =>
        `${report.errors[i]} (started ${(report.errorStartedAt[i] ?? 0) - killedAt} ms, failed ${(report.errorAt[i] ?? 0) - killedAt} ms after the kill)`;
      t.diagnostic(
        `statements ${report.statements}, errors ${report.errors.length}, max latency ${report.maxLatencyMs} ms`,
      );
      t.diagnostic(report.errors.map((_, i) => explain(i)).join('\n'));
      assert.deepEqual(report.ports, [nodePort(old), nodePort(next)]);
      // The session held on the leader ends with its processes and the router PAUSEs at once, normally
      // before PgBouncer's own refused connect fails clients (check_fast_fail: 0 such errors in 11 of 11
      // bench failovers). It is a race the router can lose on a loaded machine (one error 26 ms after the
      // kill, at load 5 on 2 cores), so what is asserted is the router's part: its PAUSE lands within
      // 300 ms of the kill, and PgBouncer fails no statement once it has. A statement may still start after
      // the kill on a backend that has not yet noticed its postmaster died: that one is in flight too.
      const pausedAt = routerGroup
        .logTail('router', 400)
        .split('\n')
        .filter((l) => l.includes('"target":"pgbouncer"') && /(paused|killed) app/.test(l))
        .map((l) => (JSON.parse(l) as { time: number }).time)
        .find((time) => time >= killedAt);
      assert.ok(pausedAt !== undefined, 'no PAUSE of app in the router log after the kill');
      t.diagnostic(`the router's PAUSE of app landed ${pausedAt - killedAt} ms after the kill`);
      assert.ok(pausedAt - killedAt < 300, `the router paused app ${pausedAt - killedAt} ms after the kill`);
      const refused = report.errors
        .map((_, i) => i)
        .filter(
          (i) => (report.errorStartedAt[i] ?? 0) > killedAt && !isInFlightError(report.errors[i] ?? ''),
        );
      const afterPause = refused.filter((i) => (report.errorAt[i] ?? 0) > pausedAt);
      assert.deepEqual(afterPause.map(explain), [], 'statements PgBouncer failed after the PAUSE');
      if (refused.length > 0)
        t.diagnostic(`lost the race before the PAUSE: ${refused.map(explain).join('; ')}`);
    } finally {
      await load.stop();
      await cluster.startNode(killed);
      await cluster.waitForHealthy({ timeoutMs: 90_000 });
    }
  });

  test('switchover killed -9 after PAUSE: the running router resumes PgBouncer', async () => {
    await switchoverKilledAfterPause(async () => {
      await waitFor(async () => !(await isPaused()), { what: 'the router to resume app', timeoutMs: 10_000 });
    });
    await cluster.waitForHealthy({ timeoutMs: 60_000 });
  });

  test('router and switchover both killed -9 while paused: the next router start resumes PgBouncer', async () => {
    await routerGroup.stop('router', 'SIGKILL', 5000);
    await switchoverKilledAfterPause();
    assert.equal(await isPaused(), true);
    await startRouter();
    await waitFor(async () => !(await isPaused()), {
      what: 'the fresh router to resume app',
      timeoutMs: 15_000,
    });
    await routedToLeader();
  });

  test('without a router, switchyard switchover repoints PgBouncer itself (write + RELOAD + verify)', async () => {
    await routerGroup.stop('router', 'SIGTERM', 10_000);
    try {
      await routedToLeader();
      const load = startLoad({
        port: bed.bouncer.port,
        database: 'app',
        clients: 8,
        statement: 'insert into t (v) values (3) returning inet_server_port() as port',
      });
      await sleep(500);
      const { lines, run } = switchover();
      const result = await run;
      await sleep(500);
      const report = await load.stop();
      assert.equal(result.error, null, `${result.error?.message}\n${lines.join('\n')}`);
      const next = await cluster.waitForLeader();
      // Routed while still paused as soon as the new leader held the key (or, when it was writable at
      // once, on the way to RESUME): either way before the databases were resumed.
      const routed = lines.findIndex((l) =>
        new RegExp(`repointed app to ${next}:\\d+[^(]*\\(RELOAD verified`).test(l),
      );
      const writable = lines.findIndex((l) => l.includes(`${next} is writable`));
      const done = lines.findIndex((l) => l.includes(`done: demo switched over to ${next}`));
      assert.ok(routed >= 0 && writable >= 0 && done > writable, lines.join('\n'));
      if (/while paused/.test(lines[routed] ?? '')) assert.ok(routed < writable, lines.join('\n'));
      assert.deepEqual(report.errors, []);
      assert.equal(await routedPort(), nodePort(next));
      assert.equal(await isPaused(), false);
    } finally {
      await startRouter();
    }
  });

  /** Starts `switchyard switchover`, kills it (-9) once it paused app, then runs `then` (killing it again after). */
  async function switchoverKilledAfterPause(
    then: () => Promise<void> = async () => undefined,
  ): Promise<void> {
    const child = spawnSwitchover();
    try {
      await waitFor(() => /paused app/.test(child.output()), {
        what: 'switchover to pause',
        timeoutMs: 15_000,
        diagnose: child.output,
      });
      child.kill9();
      await then();
    } finally {
      child.kill9();
    }
  }

  function spawnSwitchover(extra: string[] = []): {
    output(): string;
    kill9(): void;
    signal(sig: NodeJS.Signals): void;
    exited: Promise<number | null>;
  } {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/run.ts',
        'switchover',
        '--config',
        configPath,
        '--cluster',
        'demo',
        '--rest-username',
        REST.username,
        '--rest-password-env',
        'SY_INT_REST_PW',
        ...extra,
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } },
    );
    let text = '';
    child.stdout?.on('data', (d) => (text += String(d)));
    child.stderr?.on('data', (d) => (text += String(d)));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return {
      output: () => text,
      kill9: () => {
        if (child.exitCode === null && child.signalCode === null && child.pid)
          process.kill(child.pid, 'SIGKILL');
      },
      signal: (sig) => {
        if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, sig);
      },
      exited,
    };
  }
});
