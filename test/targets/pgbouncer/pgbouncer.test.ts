import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { PgBouncerTarget } from '../../../src/targets/pgbouncer/index.js';
import { PgBouncerConfigSchema } from '../../../src/targets/pgbouncer/config.js';
import { parseConnString, parseIni } from '../../../src/targets/pgbouncer/ini.js';
import { resolvePgBouncerOptions } from '../../../src/targets/pgbouncer/options.js';
import { markerPath } from '../../../src/targets/pgbouncer/marker.js';
import type { Hold, HoldEnd, ProbeResult } from '../../../src/router/leader-health/liveness.js';
import { silentLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/router/metrics.js';
import { Router } from '../../../src/router/router.js';
import { member4x, raw } from '../../fixtures.js';
import { FakePgBouncer, snapshot, testContext, view } from './fixtures.js';

let dir: string;
let clock: number;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sy-pgb-unit-'));
  clock = 1_000_000;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function readRoutes(
  path: string,
): Map<string, { host: string; port: number; dbname: string; user?: string }> {
  const out = new Map<string, { host: string; port: number; dbname: string; user?: string }>();
  for (const [name, value] of parseIni(readFileSync(path, 'utf8')).sections.get('databases') ?? []) {
    const pairs = parseConnString(value);
    if (typeof pairs === 'string') throw new Error(pairs);
    const get = (k: string) => pairs.find(([key]) => key === k)?.[1] ?? '';
    out.set(name, {
      host: get('host'),
      port: Number(get('port')),
      dbname: get('dbname'),
      ...(get('user') ? { user: get('user') } : {}),
    });
  }
  return out;
}

function setup(extra: Record<string, unknown> = {}) {
  const config = PgBouncerConfigSchema.parse({
    output: 'routes.ini',
    databases: {
      app: { cluster: 'demo', read_only: { name: 'app_ro' } },
      jobs: { cluster: 'demo', dbname: 'jobsdb' },
    },
    timeouts: { max_pause_ms: 10_000 },
    liveness: { enabled: false },
    ...extra,
  });
  const options = resolvePgBouncerOptions(config, dir);
  const fake = new FakePgBouncer(() => readRoutes(options.output));
  const target = new PgBouncerTarget(
    options,
    testContext(() => clock),
    fake,
  );
  return { target, fake, output: options.output };
}

const pg1 = { name: 'pg1', port: 5432 };
const pg2 = { name: 'pg2', port: 5433 };
const pg3 = { name: 'pg3', port: 5434 };

test('first apply writes the routing file, reloads and verifies', async () => {
  const { target, fake, output } = setup();
  const r = await target.apply(snapshot(1, view('demo', pg1, [pg2])));
  assert.equal(
    r.summary,
    'repointed app to pg1:5432 (RELOAD verified); repointed jobs to pg1:5432 (RELOAD verified); moved read-only entries (RELOAD verified) (generation 1)',
  );
  assert.equal(
    readFileSync(output, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith(';'))
      .join('\n'),
    '[databases]\napp = host=127.0.0.1 port=5432 dbname=app\napp_ro = host=127.0.0.1 port=5433 dbname=app\njobs = host=127.0.0.1 port=5432 dbname=jobsdb\n',
  );
  assert.equal(statSync(output).mode & 0o777, 0o644);
  assert.deepEqual(fake.calls, ['SHOW DATABASES', 'RELOAD', 'SHOW DATABASES', 'SHOW CONFIG']);
  const again = await target.apply(snapshot(2, view('demo', pg1, [pg2])));
  assert.equal(again.didChange, false);
  assert.equal(
    again.summary,
    'pgbouncer already routes app to 127.0.0.1:5432, jobs to 127.0.0.1:5432 (generation 2)',
  );
});

test('leader loss pauses the write databases at once; a writable new leader is routed, verified, then resumed', async () => {
  const { target, fake } = setup();
  await target.apply(snapshot(1, view('demo', pg1, [pg2, pg3])));
  fake.calls.length = 0;
  const lost = await target.apply(snapshot(2, view('demo', null, [pg2, pg3])));
  assert.equal(lost.summary, 'paused app (1 ms); paused jobs (1 ms) (generation 2)');
  assert.equal(fake.live.get('app')?.isPaused, true);
  assert.equal(fake.live.get('app_ro')?.isPaused, false, 'reads are not paused');
  clock += 700;
  const notYet = await target.apply(snapshot(3, view('demo', { ...pg2, isWritable: false }, [pg3])));
  assert.equal(fake.live.get('app')?.isPaused, true, 'still paused until the new leader is writable');
  assert.doesNotMatch(notYet.summary, /resumed/);
  clock += 500;
  fake.calls.length = 0;
  const done = await target.apply(snapshot(4, view('demo', pg2, [pg3])));
  assert.equal(
    done.summary,
    'repointed app to pg2:5433 (RELOAD verified); repointed jobs to pg2:5433 (RELOAD verified); resumed app after 1200 ms; resumed jobs after 1200 ms (generation 4)',
  );
  assert.deepEqual(fake.calls, ['SHOW DATABASES', 'RELOAD', 'SHOW DATABASES', 'RESUME app', 'RESUME jobs']);
  assert.equal(fake.live.get('app')?.port, 5433);
  assert.equal(fake.live.get('app')?.isPaused, false);
});

test('a holder change seen in one step still pauses before repointing', async () => {
  const { target, fake } = setup();
  await target.apply(snapshot(1, view('demo', pg1, [pg2])));
  fake.calls.length = 0;
  await target.apply(snapshot(2, view('demo', pg2, [pg1])));
  const order = fake.calls.filter((c) => /PAUSE|RELOAD|RESUME/.test(c));
  assert.deepEqual(order, ['PAUSE app', 'PAUSE jobs', 'RELOAD', 'RESUME app', 'RESUME jobs']);
});

test('a stalled PAUSE is cancelled and replaced by KILL, and the database is resumed once routed', async () => {
  const { target, fake } = setup();
  await target.apply(snapshot(1, view('demo', pg1)));
  fake.stalls.add('app');
  const r = await target.apply(snapshot(2, view('demo', null)));
  assert.equal(r.summary, 'killed app (PAUSE stalled after 5 ms); paused jobs (1 ms) (generation 2)');
  assert.equal(fake.live.get('app')?.isPaused, true);
  await target.apply(snapshot(3, view('demo', pg2)));
  assert.equal(fake.live.get('app')?.isPaused, false);
});

test('RELOAD that changes nothing (1.18 on a bad file) fails with SY_ERR_RELOAD_FAILED and keeps clients paused', async () => {
  const { target, fake } = setup();
  await target.apply(snapshot(1, view('demo', pg1)));
  await target.apply(snapshot(2, view('demo', null)));
  fake.isReloadIgnored = true;
  await assert.rejects(target.apply(snapshot(3, view('demo', pg2))), {
    code: 'SY_ERR_RELOAD_FAILED',
    message: /app is 127\.0\.0\.1:5432\/app, expected 127\.0\.0\.1:5433\/app .*config file loading failed/,
  });
  assert.equal(fake.live.get('app')?.isPaused, true);
  fake.isReloadIgnored = false;
  const r = await target.apply(snapshot(4, view('demo', pg2)));
  assert.match(r.summary, /repointed app to pg2:5433 \(RELOAD verified\).*resumed app/);
});

test('a pause is never held past max_pause_ms without a writable leader, and not taken again in that outage', async () => {
  const { target, fake } = setup();
  await target.apply(snapshot(1, view('demo', pg1)));
  await target.apply(snapshot(2, view('demo', null)));
  clock += 10_000;
  const r = await target.apply(snapshot(3, view('demo', null)));
  assert.match(r.summary, /resumed app after 10000 ms without a writable leader/);
  assert.equal(fake.live.get('app')?.isPaused, false);
  fake.calls.length = 0;
  await target.apply(snapshot(4, view('demo', null)));
  assert.equal(fake.calls.filter((c) => c.startsWith('PAUSE')).length, 0);
  await target.apply(snapshot(5, view('demo', pg2)));
  assert.equal(fake.live.get('app')?.port, 5433);
});

test('a router starting fresh resumes databases it finds paused', async () => {
  const first = setup();
  await first.target.apply(snapshot(1, view('demo', pg1)));
  await first.target.apply(snapshot(2, view('demo', null)));
  // "kill -9": the first target is dropped without close(); a new one starts on the same PgBouncer.
  const options = resolvePgBouncerOptions(
    PgBouncerConfigSchema.parse({
      output: 'routes.ini',
      databases: {
        app: { cluster: 'demo', read_only: { name: 'app_ro' } },
        jobs: { cluster: 'demo', dbname: 'jobsdb' },
      },
    }),
    dir,
  );
  const second = new PgBouncerTarget(
    options,
    testContext(() => clock),
    first.fake,
  );
  const r = await second.apply(snapshot(1, view('demo', pg1)));
  assert.equal(
    r.summary,
    'resumed app (found paused at start); resumed jobs (found paused at start) (generation 1)',
  );
  assert.equal(first.fake.live.get('app')?.isPaused, false);
});

test('a pause held by a live switchover is left alone; a stale one is resumed', async () => {
  const { target, fake, output } = setup();
  await target.apply(snapshot(1, view('demo', pg1)));
  fake.setPaused('app', true);
  const marker = {
    pid: process.pid,
    host: hostname(),
    cluster: 'demo',
    databases: ['app'],
    deadlineAt: clock + 60_000,
  };
  writeFileSync(markerPath(output), JSON.stringify(marker));
  const held = await target.apply(snapshot(2, view('demo', pg1)));
  assert.equal(held.didChange, false);
  assert.equal(fake.live.get('app')?.isPaused, true);
  writeFileSync(markerPath(output), JSON.stringify({ ...marker, pid: 2 ** 22 + 12345 }));
  const stale = await target.apply(snapshot(3, view('demo', pg1)));
  assert.equal(stale.summary, 'resumed app (its switchover is gone) (generation 3)');
});

test('a pause by someone else is resumed after max_pause_ms', async () => {
  const { target, fake } = setup();
  await target.apply(snapshot(1, view('demo', pg1)));
  fake.setPaused('jobs', true);
  assert.equal((await target.apply(snapshot(2, view('demo', pg1)))).didChange, false);
  clock += 10_000;
  const r = await target.apply(snapshot(3, view('demo', pg1)));
  assert.equal(r.summary, 'resumed jobs (paused by someone else for 10000 ms) (generation 3)');
});

test('a file holding a password is written 0600 with the password quoted', async () => {
  process.env['SY_TEST_PGB_PW'] = "p'w; %include /etc/shadow";
  try {
    const { target, output } = setup({
      databases: { app: { cluster: 'demo', user: 'app', password_env: 'SY_TEST_PGB_PW' } },
    });
    await target.apply(snapshot(1, view('demo', pg1)));
    assert.equal(statSync(output).mode & 0o777, 0o600);
    const text = readFileSync(output, 'utf8');
    assert.match(
      text,
      /^app = host=127\.0\.0\.1 port=5432 dbname=app user=app password='p''w; %include \/etc\/shadow'$/m,
    );
    assert.deepEqual(parseIni(text).includes, []);
  } finally {
    delete process.env['SY_TEST_PGB_PW'];
  }
});

test('a hostile host never reaches the file: the apply fails and the live file stays', async () => {
  const { target, output } = setup();
  await target.apply(snapshot(1, view('demo', pg1)));
  const before = readFileSync(output, 'utf8');
  await assert.rejects(
    target.apply(
      snapshot(2, view('demo', { name: 'pg9', host: '10.0.0.9\n%include /etc/passwd', port: 5432 })),
    ),
    {
      code: 'SY_ERR_RENDER_INVALID',
    },
  );
  assert.equal(readFileSync(output, 'utf8'), before);
});

test('status warns about risky live settings', async () => {
  const { target, fake } = setup();
  fake.config.set('server_login_retry', '15');
  fake.config.set('query_wait_timeout', '5');
  await target.apply(snapshot(1, view('demo', pg1)));
  assert.deepEqual(target.status().warnings, [
    'server_login_retry is 15 s: after a failed login PgBouncer waits that long before trying the new leader; set it to 1 or 2',
    'query_wait_timeout is 5 s, shorter than the cluster ttl (10 s): clients waiting through a failover are disconnected',
    'query_wait_timeout is 5 s, shorter than timeouts.max_pause_ms (10000 ms): paused clients may be disconnected before RESUME',
  ]);
});

test('close resumes what the target paused', async () => {
  const { target, fake } = setup();
  await target.apply(snapshot(1, view('demo', pg1)));
  await target.apply(snapshot(2, view('demo', null)));
  await target.close();
  assert.equal(fake.live.get('app')?.isPaused, false);
  assert.equal(fake.live.get('jobs')?.isPaused, false);
  assert.equal(fake.calls.at(-1), 'close');
});

/**
 * A target behind a real Router whose leader health (routing.leader_health) watches the leader; `answer` is
 * what the leader's port says to the probe. `lead` makes a member the leader (a new leader-key revision) and
 * waits until the target applied it; `close` closes the router (its leader health and the target).
 */
function livenessSetup(intervalMs: number, hold: Hold | null = null) {
  const config = PgBouncerConfigSchema.parse({
    output: 'routes.ini',
    databases: { app: { cluster: 'demo' } },
  });
  const options = resolvePgBouncerOptions(config, dir);
  const fake = new FakePgBouncer(() => readRoutes(options.output));
  const probe = { answer: 'up' as ProbeResult };
  const target = new PgBouncerTarget(
    options,
    testContext(() => clock),
    fake,
  );
  const router = new Router([target], {
    log: silentLogger(),
    metrics: createMetrics(),
    maxReplicaLagBytes: null,
    onDcsLoss: 'keep',
    probe: { method: 'member', intervalMs: 20, timeoutMs: 1000, user: 'u', dbname: 'd', password: undefined },
    liveness: { intervalMs, timeoutMs: 500, failures: 2, hold: true },
    healthIo: { probeTcp: async () => probe.answer, hold },
  });
  router.onHealth({ isConnected: true, lastContactAt: Date.now(), lastError: null, revision: 1, resyncs: 0 });
  const lead = async (m: { name: string; port: number }, revision: number) => {
    router.onScope('demo', [
      raw('leader', m.name, revision),
      raw(`members/${m.name}`, member4x({ port: m.port, apiPort: 8008, role: 'primary' })),
    ]);
    const deadline = Date.now() + 3000;
    while (router.status().targets['pgbouncer']?.applied_generation !== router.status().generation) {
      if (Date.now() > deadline) throw new Error(`pgbouncer did not apply leader ${m.name}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return { target, fake, probe, lead, close: () => router.close() };
}

test('a leader whose PostgreSQL port refuses connections is fenced before its key expires, and resumed when it answers', async () => {
  const { target, fake, probe, lead, close } = livenessSetup(50);
  try {
    await lead(pg1, 1);
    probe.answer = 'refused';
    const deadline = Date.now() + 3000;
    const summary = () => String(target.status().lastSummary);
    // Wait for the whole re-apply (its sentence), not just the PAUSE inside it.
    while (!/paused app/.test(summary()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(fake.live.get('app')?.isPaused, true, 'paused on a refused connect');
    assert.match(summary(), /^leader pg1 of demo stopped answering on 127\.0\.0\.1:5432; paused app/);
    probe.answer = 'up';
    while (fake.live.get('app')?.isPaused && Date.now() < deadline + 3000)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(fake.live.get('app')?.isPaused, false, 'resumed when the same leader answers again');
  } finally {
    await close();
  }
});

test('the held connection closing pauses at once, long before the next interval probe', async () => {
  const held: Array<{ port: number; close: (end: HoldEnd) => void; released: boolean }> = [];
  const { target, fake, probe, lead, close } = livenessSetup(10_000, (endpoint, onClose) => {
    const h = { port: endpoint.port, close: onClose, released: false };
    held.push(h);
    return () => {
      h.released = true;
    };
  });
  try {
    await lead(pg1, 1);
    assert.deepEqual(
      held.map((h) => h.port),
      [5432],
      'one connection held to the routed leader',
    );
    probe.answer = 'refused';
    const closedAt = Date.now();
    held[0]?.close({});
    while (!/paused app/.test(String(target.status().lastSummary)) && Date.now() - closedAt < 2000)
      await new Promise((r) => setTimeout(r, 5));
    assert.equal(fake.live.get('app')?.isPaused, true, 'paused by the close, not by the 10 s interval');
    assert.ok(Date.now() - closedAt < 1000, `paused ${Date.now() - closedAt} ms after the close`);
    assert.equal(held.length, 1, 'no new hold on a leader that refuses');
    await lead(pg2, 2);
    assert.deepEqual(
      held.map((h) => h.port),
      [5432, 5433],
      'the new leader is held',
    );
  } finally {
    await close();
  }
  assert.equal(held.at(-1)?.released, true, 'close releases the held connection');
});

test('full mode writes the whole pgbouncer.ini with the [pgbouncer] settings, 0600', async () => {
  const { target, output } = setup({
    mode: 'full',
    settings: { listen_port: 6432, pool_mode: 'transaction', server_login_retry: 1 },
  });
  await target.apply(snapshot(1, view('demo', pg1)));
  const ini = parseIni(readFileSync(output, 'utf8'));
  assert.deepEqual(ini.problems, []);
  assert.deepEqual(ini.sections.get('pgbouncer'), [
    ['listen_port', '6432'],
    ['pool_mode', 'transaction'],
    ['server_login_retry', '1'],
  ]);
  assert.deepEqual(
    ini.sections.get('databases')?.map(([name]) => name),
    ['app', 'app_ro', 'jobs'],
  );
  assert.equal(statSync(output).mode & 0o777, 0o600);
});

test('switchyard render writes the routing file from a snapshot alone (0600 with a password), never touching PgBouncer', async () => {
  const { renderTargets } = await import('../../../src/cli/render.js');
  const { target, fake, output } = setup({
    databases: { app: { cluster: 'demo', user: 'app', password: 'pw' } },
  });
  const calls = fake.calls.length;
  const changed = await renderTargets([target], snapshot(1, view('demo', pg1)), {
    isDryRun: false,
    isDiff: false,
    checkOf: () => undefined,
    stderr: () => {},
  });
  assert.equal(changed, true);
  assert.equal(readRoutes(output).get('app')?.port, 5432);
  assert.equal(statSync(output).mode & 0o777, 0o600);
  assert.equal(fake.calls.length, calls, 'no admin command');
});
