// routing.leader_health (the router's leader health) and its deprecated alias targets.pgbouncer.liveness.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRouterConfig } from '../../src/config/router.js';
import { leaderHealthSettingsOf } from '../../src/router/leader-health/index.js';

const PATH = '/etc/switchyard/router.yml';

function config(routing: string, pgbouncer: string | null, haproxy = true): string {
  return `
dcs: { hosts: ["127.0.0.1:2379"] }
clusters: ["app"]
routing:
  writable_probe: { user: monitor, dbname: postgres, password: pw }
${routing}
targets:
${haproxy ? '  haproxy:\n    output: /etc/haproxy/haproxy.cfg\n    frontends:\n      app: { primary: "127.0.0.1:5000" }\n' : ''}${
    pgbouncer === null
      ? ''
      : `  pgbouncer:\n    output: /etc/pgbouncer/routes.ini\n    databases:\n      app: { cluster: app }\n${pgbouncer}`
  }`;
}

test('auto: leader health is on when a pgbouncer target is configured, off for a router without one', () => {
  const withPgb = parseRouterConfig(config('', ''), PATH, { secrets: false });
  assert.equal(withPgb.routing.leader_health.enabled, true);
  assert.deepEqual(withPgb.deprecations, []);
  const haproxyOnly = parseRouterConfig(config('', null), PATH, { secrets: false });
  assert.equal(haproxyOnly.routing.leader_health.enabled, false);
  assert.equal(leaderHealthSettingsOf(haproxyOnly).liveness, null);
  const forced = parseRouterConfig(config('  leader_health: { enabled: true }', null), PATH, {
    secrets: false,
  });
  assert.deepEqual(leaderHealthSettingsOf(forced).liveness, {
    intervalMs: 100,
    timeoutMs: 500,
    failures: 2,
    hold: true,
  });
});

test('targets.pgbouncer.liveness is still read as routing.leader_health, with a deprecation sentence', () => {
  const c = parseRouterConfig(
    config('', '    liveness: { interval_ms: 250, failures: 3, hold: false }\n'),
    PATH,
    { secrets: false },
  );
  assert.deepEqual(c.routing.leader_health, {
    enabled: true,
    interval_ms: 250,
    timeout_ms: 500,
    failures: 3,
    hold: false,
  });
  assert.deepEqual(c.deprecations, [
    `${PATH}: targets.pgbouncer.liveness is deprecated: move it to routing.leader_health (same keys); it is used as routing.leader_health for now`,
  ]);
  const off = parseRouterConfig(config('', '    liveness: { enabled: false }\n'), PATH, { secrets: false });
  assert.equal(
    off.routing.leader_health.enabled,
    false,
    'enabled: false in the old place still turns it off',
  );
});

test('with both keys, routing.leader_health wins and the old key is said to be ignored', () => {
  const c = parseRouterConfig(
    config('  leader_health: { interval_ms: 40 }', '    liveness: { interval_ms: 250 }\n'),
    PATH,
    { secrets: false },
  );
  assert.equal(c.routing.leader_health.interval_ms, 40);
  assert.match(c.deprecations[0] ?? '', /targets\.pgbouncer\.liveness is deprecated and ignored/);
});

test('routing.leader_health rejects unknown keys and out-of-range values', () => {
  assert.throws(
    () => parseRouterConfig(config('  leader_health: { interval_ms: 5, holdd: true }', ''), PATH),
    (err: Error & { problems?: string[] }) =>
      (err.problems ?? []).some((p) => /routing\.leader_health/.test(p)),
  );
});
