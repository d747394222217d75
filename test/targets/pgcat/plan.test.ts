import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PgcatConfigSchema } from '../../../src/targets/pgcat/config.js';
import { planPools } from '../../../src/targets/pgcat/plan.js';
import { view } from '../pgbouncer/fixtures.js';

const { pools } = PgcatConfigSchema.parse({
  output: 'pgcat.toml',
  general: { admin: { username: 'pgcat', password: 'x' } },
  pools: {
    app: { cluster: 'demo', replicas: true, users: [{ username: 'app' }] },
    billing: { cluster: 'bill', users: [{ username: 'b' }] },
  },
});
const pg1 = { name: 'pg1', port: 5432 };
const pg2 = { name: 'pg2', port: 5433 };
const kept = { member: null, host: '10.0.0.9', port: 5432, role: 'primary' as const };

test("each pool's primary is its cluster's writable leader, with eligible replicas only where asked", () => {
  const views = new Map([
    ['demo', view('demo', pg1, [pg2])],
    ['bill', view('bill', pg2, [pg1])],
  ]);
  const plan = planPools(pools, views, new Map());
  assert.deepEqual(plan.waiting, []);
  assert.deepEqual(plan.servers.get('app'), [
    { member: 'pg1', host: '127.0.0.1', port: 5432, role: 'primary' },
    { member: 'pg2', host: '127.0.0.1', port: 5433, role: 'replica' },
  ]);
  assert.deepEqual(plan.servers.get('billing'), [
    { member: 'pg2', host: '127.0.0.1', port: 5433, role: 'primary' },
  ]);
});

test('without a writable leader a pool keeps the primary of the live file, else it waits', () => {
  const views = new Map([
    ['demo', view('demo', { ...pg1, isWritable: false }, [pg2])],
    ['bill', view('bill', null)],
  ]);
  const plan = planPools(pools, views, new Map([['app', kept]]));
  assert.deepEqual(plan.primaries.get('app'), kept);
  assert.deepEqual(plan.waiting, ['billing']);
});
