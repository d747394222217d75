import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHtml, renderStatusPage } from '../../src/http/page.js';
import type { RouterStatus } from '../../src/router/router.js';
import { appLeaderChange } from '../fixtures.js';

const status: RouterStatus = {
  healthy: true,
  reasons: [],
  last: 'haproxy: routed writes for app to pg2 via runtime API (generation 8)',
  generation: 8,
  dcs: {
    connected: true,
    seconds_since_contact: 0.2,
    last_error: null,
    revision: 40,
    resyncs: 0,
    failed_closed: false,
  },
  clusters: {
    app: {
      leader: 'pg2',
      writable: true,
      reason: null,
      writer: '127.0.0.1:5433',
      replicas: ['pg1'],
      generation: 3,
      nodes: [
        {
          name: 'pg1',
          role: 'replica',
          state: 'streaming',
          host: '127.0.0.1',
          port: 5432,
          lag_bytes: 0,
          timeline: 2,
        },
        {
          name: 'pg2',
          role: 'primary',
          state: 'running',
          host: '127.0.0.1',
          port: 5433,
          lag_bytes: null,
          timeline: 2,
        },
      ],
      invalid: [{ key: 'members/<img src=x onerror=alert(1)>', reason: 'not JSON' }],
    },
  },
  targets: {
    haproxy: {
      kind: 'haproxy',
      applied_generation: 8,
      last_apply_ms: 1.2,
      last_applied_at: 0,
      last_summary: 'routed writes for app to pg2',
      last_error: null,
      consecutive_failures: 0,
    },
  },
  timeline: [appLeaderChange('2026-11-28T02:40:00.000Z', 30, 34)],
};

test('the status page shows the leader, members with role and lag, targets and the leader-change timeline', () => {
  const html = renderStatusPage(status);
  assert.match(html, /Leader: <span class="leader">pg2 <span class="ok">writable<\/span><\/span>/);
  assert.match(
    html,
    /<td><b>pg2<\/b><\/td><td>primary<\/td><td>running<\/td><td>127\.0\.0\.1:5433<\/td><td>—<\/td>/,
  );
  assert.match(
    html,
    /<td>pg1<\/td><td>replica<\/td><td>streaming<\/td><td>127\.0\.0\.1:5432<\/td><td>0 B<\/td>/,
  );
  assert.match(html, /<td>pg1 → <b>pg2<\/b><\/td><td>30 ms<\/td><td>34 ms<\/td><td>34 ms<\/td>/);
  assert.match(html, /<script>[\s\S]*fetch\('\/\?part=main'/);
});

test('values from etcd are escaped, never rendered as markup', () => {
  const html = renderStatusPage(status);
  assert.doesNotMatch(html, /<img/);
  assert.match(html, /members\/&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.equal(escapeHtml(`"a'&<b>`), '&quot;a&#39;&amp;&lt;b&gt;');
});

test('the status page marks a lost leader (held session ended) with the reason, escaped', () => {
  const app = {
    ...(status.clusters['app'] as object),
    health: 'lost',
    lost_reason: 'connect to <pg2> refused',
  };
  const html = renderStatusPage({ ...status, clusters: { app } } as RouterStatus);
  assert.match(
    html,
    /Leader: <span class="leader">pg2 <span class="bad">lost<\/span> \(leader lost: connect to &lt;pg2&gt; refused\)<\/span>/,
  );
});
