import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { packageVersion } from '../../src/paths.js';
import { createMetrics, registerTargetMetrics } from '../../src/router/metrics.js';
import { Router } from '../../src/router/router.js';
import type { Target } from '../../src/targets/types.js';
import { member4x, raw } from '../fixtures.js';

/** A router with no targets that reports to `metrics` (member-role probe, keeps routes on DCS loss). */
function metricsRouter(
  metrics: ReturnType<typeof createMetrics>,
  extra: Partial<ConstructorParameters<typeof Router>[1]> = {},
): Router {
  return new Router([], {
    log: silentLogger(),
    metrics,
    maxReplicaLagBytes: null,
    onDcsLoss: 'keep',
    probe: { method: 'member', intervalMs: 20, timeoutMs: 1000, user: 'u', dbname: 'd', password: undefined },
    ...extra,
  });
}

test('target counters and a held flag from status() are exported at scrape time', async () => {
  const counters = { takes: 0, framesSent: 0 };
  let isHeld = false;
  const target: Target = {
    kind: 'vip',
    name: 'vip',
    start: async () => undefined,
    apply: async () => ({ generation: 1, summary: '', didChange: false }),
    close: async () => undefined,
    status: () => ({ isHeld, counters: { ...counters } }),
  };
  const metrics = createMetrics();
  registerTargetMetrics(metrics, [target]);
  counters.takes = 2;
  counters.framesSent = 10;
  isHeld = true;
  let text = await metrics.registry.metrics();
  assert.match(text, /^switchyard_vip_takes_total 2$/m);
  assert.match(text, /^switchyard_vip_frames_sent_total 10$/m);
  assert.match(text, /^switchyard_vip_held 1$/m);
  counters.takes = 3;
  text = await metrics.registry.metrics();
  assert.match(text, /^switchyard_vip_takes_total 3$/m, 'counts are not added twice across scrapes');
});

/** Series of the registry's text exposition that carry a `cluster` label. */
function clusterSeries(text: string): string[] {
  return text.split('\n').filter((line) => !line.startsWith('#') && line.includes('cluster="'));
}

test('series of scopes that disappear are deleted: 20,000 churned scopes leave no series behind', async () => {
  const metrics = createMetrics();
  const router = metricsRouter(metrics);
  const member = (port: number, role: string) =>
    raw(`members/pg${port}`, member4x({ port, apiPort: port + 1000, role }));
  let peak = 0;
  for (let round = 0; round < 20; round++) {
    const scopes = Array.from({ length: 1000 }, (_, i) => `s${round}-${i}`);
    for (const scope of scopes) {
      // A leader change, a writable gauge and an invalid value: one series of each labelled metric.
      router.onScope(scope, [raw('leader', 'pg1'), member(1, 'primary'), raw('members/bad', '{')]);
      router.onScope(scope, [raw('leader', 'pg2'), member(2, 'primary'), raw('members/bad', '{')]);
    }
    peak = Math.max(peak, clusterSeries(await metrics.registry.metrics()).length);
    for (const scope of scopes) router.onScopeGone(scope);
  }
  const text = await metrics.registry.metrics();
  assert.equal(peak, 3000, 'while 1,000 scopes live: a leader-change, writable and invalid series each');
  assert.deepEqual(clusterSeries(text), []);
  assert.match(text, /^switchyard_clusters 0$/m);
  await router.close();
});

test('an unsafe scope name from etcd is never routed nor used as a label, and is counted once', async () => {
  const metrics = createMetrics();
  const router = metricsRouter(metrics);
  const hostile = 'app"} 1\nswitchyard_generation 99';
  const keys = [
    raw('leader', 'pg1'),
    raw('members/pg1', member4x({ port: 5432, apiPort: 8008, role: 'primary' })),
  ];
  router.onScope(hostile, keys);
  router.onScope(hostile, keys);
  assert.deepEqual(Object.keys(router.status().clusters), []);
  const text = await metrics.registry.metrics();
  assert.match(text, /^switchyard_invalid_values_total\{cluster="\(unsafe scope name\)",key="scope"\} 1$/m);
  assert.doesNotMatch(text, /app\\"/);
  await router.close();
});

test('metric names follow Prometheus conventions: switchyard_ once, build_info, a last-success timestamp', async () => {
  const metrics = createMetrics();
  const router = metricsRouter(metrics, { now: () => 1_700_000_012_500 });
  router.onHealth({
    isConnected: true,
    lastContactAt: 1_700_000_010_000,
    lastError: null,
    revision: 1,
    resyncs: 1,
  });
  router.updateStaleness();
  const text = await metrics.registry.metrics();
  assert.match(text, /^switchyard_process_cpu_user_seconds_total \d/m);
  assert.doesNotMatch(text, /switchyard_process_process_|switchyard_process_nodejs_/);
  assert.match(text, /^switchyard_nodejs_eventloop_lag_seconds /m);
  assert.match(
    text,
    new RegExp(
      `^switchyard_build_info\\{version="${packageVersion().replace(/\./g, '\\.')}",nodejs="${process.versions.node}"\\} 1$`,
      'm',
    ),
  );
  assert.match(text, /^switchyard_dcs_last_success_timestamp_seconds 1700000010$/m);
  assert.match(text, /^switchyard_dcs_staleness_seconds 2\.5$/m, 'the old gauge is kept for existing alerts');
  await router.close();
});

test('a member value with a control character is ignored, logged and counted like every hostile value', async () => {
  const metrics = createMetrics();
  const warnings: string[] = [];
  const log = silentLogger();
  log.warn = ((obj: { reason?: string }) => void warnings.push(obj.reason ?? '')) as typeof log.warn;
  const router = metricsRouter(metrics, { log });
  const hostile = JSON.stringify({
    conn_url: 'postgres://6.6.6.6:5432/postgres\n    server pwn1 6.6.6.6:1',
    state: 'running',
    role: 'replica',
  });
  router.onScope('app', [
    raw('leader', 'pg1'),
    raw('members/pg1', member4x({ port: 5432, apiPort: 8008, role: 'primary' })),
    raw('members/pwn1', hostile),
  ]);
  const status = router.status().clusters['app'] as { members: string[]; invalid: unknown[] };
  assert.deepEqual(status.members, ['pg1']);
  assert.deepEqual(status.invalid, [
    { key: 'members/pwn1', reason: 'conn_url: must not contain control characters (newline, tab, ...)' },
  ]);
  assert.deepEqual(warnings, ['conn_url: must not contain control characters (newline, tab, ...)']);
  assert.match(
    await metrics.registry.metrics(),
    /^switchyard_invalid_values_total\{cluster="app",key="members"\} 1$/m,
  );
  await router.close();
});
