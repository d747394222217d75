// examples/monitoring: the alert rules pass promtool's check and its unit tests, and every metric the
// rules and the dashboard name exists in the router's registry (a rename cannot silence an alert).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetrics } from '../../src/router/metrics.js';

const dir = fileURLToPath(new URL('../../examples/monitoring/', import.meta.url));
const read = (name: string) => readFileSync(`${dir}${name}`, 'utf8');

function namedMetrics(text: string): Set<string> {
  return new Set(
    [...text.matchAll(/\bswitchyard_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')),
  );
}

async function registryNames(): Promise<Set<string>> {
  const metrics = createMetrics();
  return new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
}

test('promtool accepts the alert rules and their unit tests pass', () => {
  const check = execFileSync('promtool', ['check', 'rules', 'alerts.yml'], { cwd: dir, encoding: 'utf8' });
  assert.match(check, /SUCCESS: 8 rules found/);
  const unit = execFileSync('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: dir, encoding: 'utf8' });
  assert.match(unit, /SUCCESS/);
});

test('every metric in the alert rules and the dashboard exists in the registry', async () => {
  const known = await registryNames();
  const dashboard = JSON.parse(read('grafana-dashboard.json')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
  for (const [file, text] of [
    ['alerts.yml', read('alerts.yml')],
    ['grafana-dashboard.json', exprs],
  ] as const) {
    const missing = [...namedMetrics(text)].filter((name) => !known.has(name));
    assert.deepEqual(missing, [], `${file} names metrics the router does not export`);
  }
});
