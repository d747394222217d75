// `/status` keys are in one case (issue 15, item 4): every key of the document is snake_case, whatever
// the targets call their fields in TypeScript.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadRouterConfig } from '../../src/config/router.js';
import { silentLogger } from '../../src/log.js';
import { createMetrics } from '../../src/router/metrics.js';
import { Router, type RouterOptions } from '../../src/router/router.js';
import { snakeCase, snakeKeys } from '../../src/router/snake-case.js';
import { createTargets } from '../../src/router/start.js';
import type { Target } from '../../src/targets/types.js';
import { member4x, raw } from '../fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-status-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fake = join(dir, 'fake-command');
writeFileSync(fake, '#!/bin/sh\nexit 0\n');
chmodSync(fake, 0o755);

const SNAKE = /^[a-z0-9_]+$/;

/**
 * Every key of `value` that is not snake_case, as a path. Scope names under `clusters` and target
 * names under a timeline entry's `applied_ms` are data (they come from etcd and router.yml), not keys
 * the router chose: they are skipped, their contents are not.
 */
function badKeys(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => badKeys(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  const isData = path === '.clusters' || /\.timeline\[\d+\]\.applied_ms$/.test(path);
  return Object.entries(value).flatMap(([k, v]) => [
    ...(isData || SNAKE.test(k) ? [] : [`${path}.${k}`]),
    ...badKeys(v, `${path}.${k}`),
  ]);
}

function routerOptions(): RouterOptions {
  return {
    log: silentLogger(),
    metrics: createMetrics(),
    maxReplicaLagBytes: null,
    onDcsLoss: 'keep',
    probe: { method: 'member', intervalMs: 20, timeoutMs: 1000, user: 'u', dbname: 'd', password: undefined },
  };
}

test('snakeCase turns camelCase names into snake_case and leaves snake_case alone', () => {
  assert.equal(snakeCase('appliedGeneration'), 'applied_generation');
  assert.equal(snakeCase('isHeld'), 'is_held');
  assert.equal(snakeCase('framesSent'), 'frames_sent');
  assert.equal(snakeCase('runtime_api'), 'runtime_api');
  assert.equal(snakeCase('kind'), 'kind');
});

test('snakeKeys converts keys at every depth, inside arrays too, and never touches values', () => {
  assert.deepEqual(
    snakeKeys({ lastError: 'isHeld', paused: [{ sinceMs: 3 }], runtime_api: { lastError: null }, n: 1 }),
    { last_error: 'isHeld', paused: [{ since_ms: 3 }], runtime_api: { last_error: null }, n: 1 },
  );
});

test('every key of /status is snake_case with every target kind configured (haproxy, pgbouncer, pgcat, vip)', async () => {
  const file = join(dir, 'router.yml');
  writeFileSync(
    file,
    `
dcs: { type: etcd3, hosts: ["127.0.0.1:2379"] }
clusters: [app]
api: { listen: "127.0.0.1:8009" }
targets:
  haproxy:
    output: ${dir}/haproxy.cfg
    check: ${fake} {{file}}
    reload: ${fake}
    frontends:
      app: { primary: "127.0.0.1:5000", replicas: "127.0.0.1:5001" }
  pgbouncer:
    output: ${dir}/databases.ini
    databases:
      app: { cluster: app }
    reload: { method: command, command: ${fake} }
  pgcat:
    output: ${dir}/pgcat.toml
    general: { admin: { username: pgcat, password: secret } }
    pools:
      app: { cluster: app, users: [{ username: app, password: secret }] }
    reload: { method: command, command: ${fake} }
  vip: { address: 10.0.0.100/24, interface: eth0, ip_command: ${fake}, announce: { sender: arping }, arping: { command: ${fake} } }
`,
  );
  const targets = createTargets(loadRouterConfig(file), silentLogger());
  const router = new Router(targets, routerOptions());
  const status = router.status();
  assert.deepEqual(Object.keys(status.targets).sort(), ['haproxy', 'pgbouncer', 'pgcat', 'vip']);
  assert.deepEqual(badKeys(status), []);
  assert.equal(status.targets['vip']?.['is_held'], false, 'the VIP reports is_held, not isHeld');
  assert.equal(status.targets['haproxy']?.applied_generation, 0);
});

test('every key of /status is snake_case with a cluster, a leader change and nested target fields', async () => {
  let generation = 0;
  const target: Target = {
    kind: 'fake',
    name: 'fake',
    start: async () => undefined,
    apply: async (s) => {
      generation = s.generation;
      return { generation: s.generation, summary: 'applied', didChange: true };
    },
    close: async () => undefined,
    status: () => ({ isHeld: true, paused: [{ database: 'app', sinceMs: 5 }], counters: { framesSent: 2 } }),
  };
  const router = new Router([target], routerOptions());
  const member = (n: number, role: string) =>
    raw(`members/pg${n}`, member4x({ port: 5430 + n, apiPort: 8000 + n, role }));
  const health = { isConnected: true, lastContactAt: Date.now(), lastError: null, revision: 1, resyncs: 0 };
  router.onScope('app-1', [raw('leader', 'pg1'), member(1, 'primary'), member(2, 'replica')]);
  router.onHealth(health);
  router.onScope('app-1', [raw('leader', 'pg2'), member(1, 'replica'), member(2, 'primary')]);
  router.onHealth({ ...health, revision: 2 });
  const deadline = Date.now() + 2000;
  while (router.status().timeline[0]?.all_applied_ms == null && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
  const status = router.status();
  assert.ok(generation > 0 && status.timeline.length > 0, JSON.stringify(status));
  assert.deepEqual(badKeys(status), []);
  assert.deepEqual(status.targets['fake']?.['paused'], [{ database: 'app', since_ms: 5 }]);
  assert.deepEqual(status.targets['fake']?.['counters'], { frames_sent: 2 });
  await router.close();
});
