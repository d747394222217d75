import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetrics, registerTargetMetrics } from '../../src/router/metrics.js';
import type { Target } from '../../src/targets/types.js';

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
