import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildConnString,
  checkRenderedIni,
  parseConnString,
  parseIni,
} from '../../../src/targets/pgbouncer/ini.js';
import { PgBouncerConfigSchema } from '../../../src/targets/pgbouncer/config.js';

const base = (name: string, params: Array<[string, string]>) => ({ name, params });

test('buildConnString writes host, port and dbname as PgBouncer reads them', () => {
  const s = buildConnString(
    base('app', [
      ['host', '10.0.0.2'],
      ['port', '5432'],
      ['dbname', 'app'],
      ['pool_size', '20'],
    ]),
  );
  assert.equal(s, 'host=10.0.0.2 port=5432 dbname=app pool_size=20');
  assert.deepEqual(parseConnString(s), [
    ['host', '10.0.0.2'],
    ['port', '5432'],
    ['dbname', 'app'],
    ['pool_size', '20'],
  ]);
});

for (const hostile of [
  '10.0.0.2;x',
  'pg1\nfoo = host=evil',
  "pg'1",
  'pg"1',
  '%include /etc/passwd',
  'a b',
  '',
]) {
  test(`buildConnString rejects the host ${JSON.stringify(hostile)}`, () => {
    assert.throws(
      () =>
        buildConnString(
          base('app', [
            ['host', hostile],
            ['port', '5432'],
          ]),
        ),
      {
        code: 'SY_ERR_RENDER_INVALID',
      },
    );
  });
  test(`buildConnString rejects the database name ${JSON.stringify(hostile)}`, () => {
    assert.throws(
      () =>
        buildConnString(
          base(hostile, [
            ['host', '10.0.0.2'],
            ['port', '5432'],
          ]),
        ),
      {
        code: 'SY_ERR_RENDER_INVALID',
      },
    );
  });
  test(`buildConnString rejects the dbname ${JSON.stringify(hostile)}`, () => {
    assert.throws(
      () =>
        buildConnString(
          base('app', [
            ['host', '10.0.0.2'],
            ['dbname', hostile],
          ]),
        ),
      {
        code: 'SY_ERR_RENDER_INVALID',
      },
    );
  });
}

test('buildConnString refuses the reserved name pgbouncer and unknown keys', () => {
  assert.throws(() => buildConnString(base('pgbouncer', [['host', 'h']])), /not allowed/);
  assert.throws(
    () => buildConnString(base('app', [['connect_query', 'drop table x']])),
    /unknown connection parameter/,
  );
});

test('a password with quotes, ; and %include is quoted and reads back exactly', () => {
  const password = 'it\'s; %include /etc/shadow "x" #y';
  const s = buildConnString(
    base('app', [
      ['host', 'h'],
      ['user', 'app'],
      ['password', password],
    ]),
  );
  assert.equal(s, `host=h user=app password='it''s; %include /etc/shadow "x" #y'`);
  const ini = parseIni(`[databases]\napp = ${s}\n`);
  assert.deepEqual(ini.includes, []);
  const value = ini.sections.get('databases')?.[0]?.[1] ?? '';
  assert.deepEqual(parseConnString(value), [
    ['host', 'h'],
    ['user', 'app'],
    ['password', password],
  ]);
});

test('a password with a newline or a control character is refused and never echoed', () => {
  for (const password of ['abc\n%include /etc/shadow', 'a\rb', 'a\0b']) {
    assert.throws(
      () =>
        buildConnString(
          base('app', [
            ['host', 'h'],
            ['password', password],
          ]),
        ),
      (err: Error) =>
        !err.message.includes('abc') && /password is empty or contains control characters/.test(err.message),
    );
  }
});

test('checkRenderedIni accepts exactly the intended entries', () => {
  const db = base('app', [
    ['host', 'h'],
    ['port', '5432'],
  ]);
  assert.deepEqual(
    checkRenderedIni('; c\n[databases]\napp = host=h port=5432\n', [db], {
      mode: 'include',
      allowedIncludes: 0,
    }),
    [],
  );
});

test('checkRenderedIni finds smuggled entries, includes, sections and changed values', () => {
  const db = base('app', [
    ['host', 'h'],
    ['port', '5432'],
  ]);
  const problems = checkRenderedIni(
    '[databases]\napp = host=evil port=5432\nother = host=x\n%include /etc/passwd\n[pgbouncer]\nadmin_users = x\n',
    [db],
    { mode: 'include', allowedIncludes: 0 },
  );
  assert.deepEqual(problems, [
    '1 %include line(s), the template has 0',
    'unexpected section [pgbouncer] in include mode',
    '[databases] app: value differs from the intended connection string',
    '[databases] has unexpected entry "other"',
  ]);
});

test('checkRenderedIni reports a missing entry and a garbage line', () => {
  const db = base('app', [['host', 'h']]);
  assert.deepEqual(checkRenderedIni('[databases]\n=oops\n', [db], { mode: 'include', allowedIncludes: 0 }), [
    'line 2: not a key = value line',
    '[databases] is missing app',
  ]);
});

test('the config schema rejects hostile database names, dbnames and users', () => {
  const ok = { output: '/tmp/x.ini', databases: { app: { cluster: 'demo' } } };
  assert.equal(PgBouncerConfigSchema.safeParse(ok).success, true);
  for (const bad of ['a;b', 'a\nb', "a'b", '%include', 'a b', 'pgbouncer']) {
    assert.equal(
      PgBouncerConfigSchema.safeParse({ ...ok, databases: { [bad]: { cluster: 'demo' } } }).success,
      false,
      bad,
    );
    if (bad === 'pgbouncer') continue; // reserved as an entry name only
    assert.equal(
      PgBouncerConfigSchema.safeParse({ ...ok, databases: { app: { cluster: 'demo', dbname: bad } } })
        .success,
      false,
      bad,
    );
    assert.equal(
      PgBouncerConfigSchema.safeParse({ ...ok, databases: { app: { cluster: 'demo', user: bad } } }).success,
      false,
      bad,
    );
  }
});

test('the config schema is strict and checks the reload method', () => {
  const ok = { output: '/tmp/x.ini', databases: { app: { cluster: 'demo' } } };
  assert.equal(PgBouncerConfigSchema.safeParse({ ...ok, pool_mod: 'x' }).success, false);
  const r = PgBouncerConfigSchema.safeParse({ ...ok, reload: { method: 'command' } });
  assert.equal(r.success, false);
  assert.match(JSON.stringify(r.error?.issues), /required when reload.method is command/);
  assert.equal(PgBouncerConfigSchema.safeParse({ ...ok, settings: { listen_port: 6432 } }).success, false);
  assert.equal(
    PgBouncerConfigSchema.safeParse({
      ...ok,
      mode: 'full',
      settings: { admin_users: 'x\n%include /etc/passwd' },
    }).success,
    false,
  );
});
