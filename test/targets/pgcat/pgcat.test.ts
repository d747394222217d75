import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { PgcatTarget, resolvePgcatOptions } from '../../../src/targets/pgcat/index.js';
import { PgcatConfigSchema } from '../../../src/targets/pgcat/config.js';
import { checkPgcatToml, tomlString } from '../../../src/targets/pgcat/render.js';
import { snapshot, testContext, view } from '../pgbouncer/fixtures.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed TOML, asserted field by field
type Doc = any;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sy-pgcat-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function target(extra: Record<string, unknown> = {}, pools?: Record<string, unknown>) {
  const config = PgcatConfigSchema.parse({
    output: 'pgcat.toml',
    general: { admin: { username: 'pgcat', password: 'admin-pw' }, settings: { connect_timeout: 1000 } },
    pools: pools ?? {
      app: {
        cluster: 'demo',
        replicas: true,
        users: [{ username: 'app', password: 'app-pw', pool_size: 5 }],
      },
    },
    reload: { method: 'command', command: 'true' },
    ...extra,
  });
  const options = resolvePgcatOptions(config, dir);
  return { t: new PgcatTarget(options, testContext()), output: options.output };
}

const pg1 = { name: 'pg1', port: 5432 };
const pg2 = { name: 'pg2', port: 5433 };
const pg3 = { name: 'pg3', port: 5434 };

test('renders one primary (the writable leader) and eligible replicas, parsed back exactly', async () => {
  const { t, output } = target();
  const r = await t.apply(snapshot(3, view('demo', pg2, [pg1, pg3])));
  assert.equal(
    r.summary,
    'routed app to pg2:5433 in pgcat.toml (reload command, not verified) (generation 3)',
  );
  const doc = parse(readFileSync(output, 'utf8')) as Doc;
  assert.deepEqual(doc.pools.app.shards['0'].servers, [
    ['127.0.0.1', 5433, 'primary'],
    ['127.0.0.1', 5432, 'replica'],
    ['127.0.0.1', 5434, 'replica'],
  ]);
  assert.equal(doc.pools.app.shards['0'].database, 'app');
  assert.deepEqual({ ...doc.pools.app.users['0'] }, { username: 'app', password: 'app-pw', pool_size: 5 });
  assert.equal(doc.general.admin_username, 'pgcat');
  assert.equal(doc.general.admin_password, 'admin-pw');
  assert.equal(doc.general.connect_timeout, 1000);
  assert.equal(statSync(output).mode & 0o777, 0o600);
  const again = await t.apply(snapshot(4, view('demo', pg2, [pg1, pg3])));
  assert.equal(again.summary, 'pgcat already routes app to pg2:5433 (generation 4)');
});

test('without a writable leader the pool keeps the primary it has; with none at all the file is untouched', async () => {
  const { t, output } = target();
  const waiting = await t.apply(snapshot(1, view('demo', null, [pg1])));
  assert.equal(waiting.summary, 'waiting for a writable leader for app; pgcat.toml untouched (generation 1)');
  assert.equal(existsSync(output), false);
  await t.apply(snapshot(2, view('demo', pg1, [pg2])));
  const kept = await t.apply(snapshot(3, view('demo', { ...pg2, isWritable: false }, [])));
  assert.match(kept.summary, /routed app to 127\.0\.0\.1:5432/);
  const doc = parse(readFileSync(output, 'utf8')) as Doc;
  assert.deepEqual(doc.pools.app.shards['0'].servers, [['127.0.0.1', 5432, 'primary']]);
});

test('hostile passwords and names are TOML-escaped and read back exactly', async () => {
  const hostile = 'a"b\\c\n[pools.evil]\nx = "y" %include \u007f';
  const { t, output } = target({ general: { admin: { username: 'pg"cat\n[x]', password: hostile } } });
  await t.apply(snapshot(1, view('demo', pg1)));
  const doc = parse(readFileSync(output, 'utf8')) as Doc;
  assert.equal(doc.general.admin_password, hostile);
  assert.equal(doc.general.admin_username, 'pg"cat\n[x]');
  assert.deepEqual(Object.keys(doc.pools), ['app']);
  assert.deepEqual(Object.keys(doc), ['general', 'pools']);
});

test('a hostile host from etcd never reaches pgcat.toml', async () => {
  const { t, output } = target();
  await t.apply(snapshot(1, view('demo', pg1)));
  const before = readFileSync(output, 'utf8');
  await assert.rejects(
    t.apply(snapshot(2, view('demo', { name: 'pg9', host: '10.0.0.9", 1, "primary"], ["x', port: 5432 }))),
    {
      code: 'SY_ERR_RENDER_INVALID',
      message: /is not allowed in pgcat\.toml/,
    },
  );
  assert.equal(readFileSync(output, 'utf8'), before);
});

test('the config refuses pool names that are not TOML bare keys and settings the target owns', () => {
  const base = { output: 'x', general: { admin: { username: 'a', password: 'b' } } };
  const pool = { cluster: 'demo', users: [{ username: 'u' }] };
  for (const bad of ['a.b', 'a b', 'a"b', 'a]\n[b']) {
    assert.equal(PgcatConfigSchema.safeParse({ ...base, pools: { [bad]: pool } }).success, false, bad);
  }
  assert.equal(
    PgcatConfigSchema.safeParse({ ...base, pools: { app: { ...pool, settings: { shards: 1 } } } }).success,
    false,
  );
  assert.equal(
    PgcatConfigSchema.safeParse({ ...base, pools: { app: pool }, reload: { method: 'signal' } }).success,
    false,
  );
});

test("checkPgcatToml applies pgcat's rules", () => {
  const one = new Map([['app', [{ member: null, host: 'h', port: 1, role: 'primary' as const }]]]);
  const doc = (servers: string, general = 'admin_username = "a"\nadmin_password = "b"') =>
    `[general]\n${general}\n[pools.app.users.0]\nusername = "u"\npool_size = 1\n[pools.app.shards.0]\ndatabase = "app"\nservers = ${servers}\n`;
  assert.deepEqual(checkPgcatToml(doc('[["h", 1, "primary"]]'), one), []);
  // each wrong server list: its first complaint, then that it differs from the intended list
  for (const [servers, complaint] of [
    ['[]', 'pools.app: no servers (pgcat requires at least one)'],
    ['[["h", 1, "primary"], ["g", 1, "primary"]]', 'pools.app: more than one primary'],
    // Stricter than pgcat (which compares host, port and role): one address may appear once.
    ['[["h", 1, "primary"], ["h", 1, "replica"]]', 'pools.app: duplicate servers'],
    ['[["h", 1, "replica"], ["h", 1, "replica"]]', 'pools.app: duplicate servers'],
  ])
    assert.deepEqual(checkPgcatToml(doc(servers as string), one), [
      complaint,
      'pools.app: servers differ from the intended list',
    ]);
  assert.deepEqual(checkPgcatToml(doc('[["h", 1, "primary"]]', 'admin_username = "a"'), one), [
    'general.admin_password is missing or empty (pgcat requires it)',
  ]);
  assert.match(checkPgcatToml('[general\n', one)[0] ?? '', /^not valid TOML/);
});

test('tomlString escapes quotes, backslashes and every control character', () => {
  assert.equal(tomlString('a"b\\c\nd\u0000\u007f'), '"a\\"b\\\\c\\u000ad\\u0000\\u007f"');
});

test('reload by SIGHUP to a pidfile reaches the process', async () => {
  const marker = join(dir, 'hup');
  const child = spawn(
    process.execPath,
    [
      '-e',
      `process.on('SIGHUP', () => { require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'); process.exit(0); }); setTimeout(() => {}, 20000);`,
    ],
    { stdio: 'ignore' },
  );
  try {
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(join(dir, 'pgcat.pid'), `${child.pid}\n`);
    const { t } = target({ reload: { method: 'signal', pidfile: 'pgcat.pid' } });
    const r = await t.apply(snapshot(1, view('demo', pg1)));
    assert.equal(
      r.summary,
      `routed app to pg1:5432 in pgcat.toml (SIGHUP to pid ${child.pid}, not verified) (generation 1)`,
    );
    const deadline = Date.now() + 5000;
    while (!existsSync(marker) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    assert.equal(existsSync(marker), true);
  } finally {
    child.kill('SIGKILL');
  }
});

test('a SIGHUP to a pid that does not exist fails with SY_ERR_RELOAD_FAILED, then retries reload', async () => {
  const { t } = target({ reload: { method: 'signal', pid: 2 ** 22 + 4321 } });
  await assert.rejects(t.apply(snapshot(1, view('demo', pg1))), {
    code: 'SY_ERR_RELOAD_FAILED',
    message: `cannot send SIGHUP to pgcat (pid ${2 ** 22 + 4321}): no such process`,
  });
  await assert.rejects(t.apply(snapshot(2, view('demo', pg1))), { code: 'SY_ERR_RELOAD_FAILED' });
});

test('a swap whose reload is not confirmed stays pending: the next pass does not report the new primary as applied', async () => {
  const reloads = join(dir, 'reloads');
  const { output } = target();
  const config = PgcatConfigSchema.parse({
    output: 'pgcat.toml',
    general: { admin: { username: 'pgcat', password: 'admin-pw' } },
    pools: { app: { cluster: 'demo', users: [{ username: 'app', password: 'app-pw' }] } },
    reload: { method: 'command', command: `echo x >> ${reloads}` },
  });
  // Setting the owner is the step between rendering and reloading that fails here (as chown does on a
  // root-squashed mount); it stands for any failure between the swap and a confirmed reload.
  const owner = { uid: 0, gid: 0 };
  const t = new PgcatTarget({ ...resolvePgcatOptions(config, dir), owner }, testContext());
  await t.apply(snapshot(1, view('demo', pg1)));
  owner.uid = 2 ** 40; // out of range: chown throws
  await assert.rejects(t.apply(snapshot(2, view('demo', pg2))));
  const retry = await t.apply(snapshot(3, view('demo', pg2))).catch((err: Error) => err);
  assert.ok(
    retry instanceof Error || !/already routes app to pg2/.test(retry.summary),
    `the new primary is not applied until a reload confirmed it; got: ${retry instanceof Error ? retry.message : retry.summary}`,
  );
  assert.equal(readFileSync(reloads, 'utf8'), 'x\n', 'no reload has confirmed pg2 yet');
  assert.equal(
    (parse(readFileSync(output, 'utf8')) as Doc).pools.app.shards['0'].servers[0][1],
    5432,
    'the live file still routes pg1, which is what pgcat runs',
  );
  owner.uid = 0;
  const fixed = await t.apply(snapshot(4, view('demo', pg2)));
  assert.equal(
    fixed.summary,
    'routed app to pg2:5433 in pgcat.toml (reload command, not verified) (generation 4)',
  );
  assert.equal(readFileSync(reloads, 'utf8'), 'x\nx\n');
  assert.equal(t.status()['pendingReload'], false);
});
