import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { routerConfigSchema } from '../../../src/config/router.js';
import { parseConnString, parseIni } from '../../../src/targets/pgbouncer/ini.js';
import { checkPgcatToml } from '../../../src/targets/pgcat/render.js';

const dir = new URL('../../../examples/pooler-chain/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');

test('examples/pooler-chain/router.yml is a valid router config', () => {
  const result = routerConfigSchema().safeParse(parseDocument(read('router.yml')).toJS());
  assert.equal(result.success, true, JSON.stringify(result.error?.issues));
});

test('examples/pooler-chain/pgcat.toml passes the pgcat checks with PgBouncer as its one primary', () => {
  const expected = new Map([
    ['app', [{ member: null, host: '127.0.0.1', port: 6433, role: 'primary' as const }]],
  ]);
  assert.deepEqual(checkPgcatToml(read('pgcat.toml'), expected), []);
});

test('examples/pooler-chain PgBouncer files parse the way PgBouncer reads them', () => {
  const ini = parseIni(read('pgbouncer.ini'));
  assert.deepEqual(ini.problems, []);
  assert.deepEqual(ini.includes, ['/etc/pgbouncer/switchyard-databases.ini']);
  const routes = parseIni(read('switchyard-databases.ini'));
  const entry = routes.sections.get('databases')?.[0];
  assert.equal(entry?.[0], 'app');
  assert.deepEqual(parseConnString(entry?.[1] ?? ''), [
    ['host', '10.0.0.11'],
    ['port', '5432'],
    ['dbname', 'app'],
  ]);
});
