import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatStatus } from '../../src/cli/status.js';
import type { RouterStatus } from '../../src/router/router.js';
import { appLeaderChange } from '../fixtures.js';

const status: RouterStatus = {
  healthy: false,
  reasons: ['app: leader pg2 not writable: leader pg2 reports role replica, not primary'],
  last: 'haproxy: runtime API: 2 commands; writes app → (none) (generation 12)',
  generation: 12,
  dcs: {
    connected: true,
    seconds_since_contact: 0.4,
    last_error: null,
    revision: 881,
    resyncs: 1,
    failed_closed: false,
  },
  clusters: {
    app: {
      leader: 'pg2',
      writable: false,
      reason: 'leader pg2 reports role replica, not primary',
      writer: null,
      replicas: ['pg3'],
      members: ['pg1', 'pg2', 'pg3'],
      generation: 5,
      invalid: [],
    },
    billing: {
      leader: 'b1',
      writable: true,
      reason: null,
      writer: '10.0.0.5:5432',
      replicas: [],
      members: ['b1'],
      generation: 2,
      invalid: [{ key: 'members/x', reason: 'not JSON' }],
    },
  },
  targets: {
    haproxy: {
      kind: 'haproxy',
      applied_generation: 11,
      last_apply_ms: 1.42,
      last_applied_at: 0,
      last_summary: null,
      last_error: 'HAProxy runtime API: connection refused',
      consecutive_failures: 2,
    },
  },
  timeline: [appLeaderChange('2026-11-28T02:40:01.250Z', 31, 36)],
};

test('switchyard status prints health, reasons, clusters and targets as tables', () => {
  const text = formatStatus(status);
  assert.match(
    text,
    /^Router: UNHEALTHY · generation 12 · etcd connected \(last contact 0\.4 s ago, revision 881\)\n/,
  );
  assert.match(text, / {2}! app: leader pg2 not writable/);
  assert.match(
    text,
    /\| app +\| pg2 +\| \(none\) +\| pg3 +\| 5 +\| leader pg2 reports role replica, not primary \|/,
  );
  assert.match(text, /\| billing +\| b1 +\| 10\.0\.0\.5:5432 +\| - +\| 2 +\| 1 invalid value\(s\) +\|/);
  assert.match(
    text,
    /\| haproxy +\| haproxy +\| 11 \(behind 12\) +\| 1\.4 ms +\| HAProxy runtime API: connection refused \|/,
  );
});

test('switchyard status prints the last leader changes with each step after the key change', () => {
  const text = formatStatus(status);
  assert.match(text, /Leader changes \(times after the router read the new leader key\):/);
  assert.match(text, /\| 2026-11-28 02:40:01 +\| app +\| pg1 → pg2 +\| 31 ms +\| 36 ms +\| 36 ms +\|/);
  assert.doesNotMatch(formatStatus({ ...status, timeline: [] }), /Leader changes/);
});

test('switchyard status says the leader is lost (its held session ended) before the key expires', () => {
  const app = {
    ...(status.clusters['app'] as object),
    writable: true,
    health: 'lost',
    lost_reason: 'the session held on 127.0.0.1:5433 ended',
  };
  const text = formatStatus({ ...status, clusters: { ...status.clusters, app } } as RouterStatus);
  assert.match(
    text,
    /\| app +\| pg2 +\| \(none\) +\| pg3 +\| 5 +\| leader lost: the session held on 127\.0\.0\.1:5433 ended \|/,
  );
});
