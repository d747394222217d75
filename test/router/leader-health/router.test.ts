// The router owns leader health once for all targets: the fact reaches every target's snapshot, /status,
// the timeline and the metrics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../../src/log.js';
import type { HoldEnd } from '../../../src/router/leader-health/liveness.js';
import { createMetrics } from '../../../src/router/metrics.js';
import { Router } from '../../../src/router/router.js';
import type { ApplyResult, RouteSnapshot, Target } from '../../../src/targets/types.js';
import { member4x, raw } from '../../fixtures.js';

/** A target that records each snapshot's leader of `app`. */
function recorder(name: string) {
  const seen: Array<{ leader: string | null; isWritable: boolean; isLost: boolean }> = [];
  const target: Target = {
    kind: name,
    name,
    start: async () => undefined,
    async apply(s: RouteSnapshot): Promise<ApplyResult> {
      const l = s.views.get('app')?.leader ?? null;
      seen.push({ leader: l?.name ?? null, isWritable: l?.isWritable ?? false, isLost: l?.isLost ?? false });
      return { generation: s.generation, summary: `applied ${s.generation}`, didChange: false };
    },
    close: async () => undefined,
  };
  return { target, seen };
}

function keys(leader: string, revision: number) {
  return [
    raw('leader', leader, revision),
    raw(
      'members/pg1',
      member4x({ port: 5432, apiPort: 8008, role: leader === 'pg1' ? 'primary' : 'replica' }),
    ),
    raw(
      'members/pg2',
      member4x({ port: 5433, apiPort: 8009, role: leader === 'pg2' ? 'primary' : 'replica' }),
    ),
  ];
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a lost leader reaches every target, /status, the timeline and metrics from one held session', async () => {
  const holds: Array<{ port: number; end: (e: HoldEnd) => void }> = [];
  const answer = { tcp: 'up' as 'up' | 'refused' };
  const metrics = createMetrics();
  const a = recorder('haproxy');
  const b = recorder('pgbouncer');
  const router = new Router([a.target, b.target], {
    log: silentLogger(),
    metrics,
    maxReplicaLagBytes: null,
    onDcsLoss: 'keep',
    probe: { method: 'member', intervalMs: 20, timeoutMs: 1000, user: 'u', dbname: 'd', password: undefined },
    liveness: { intervalMs: 10_000, timeoutMs: 500, failures: 2, hold: true },
    healthIo: {
      probeTcp: async () => answer.tcp,
      hold: (endpoint, end) => {
        holds.push({ port: endpoint.port, end });
        return () => undefined;
      },
    },
  });
  try {
    router.onHealth({
      isConnected: true,
      lastContactAt: Date.now(),
      lastError: null,
      revision: 1,
      resyncs: 0,
    });
    router.onScope('app', keys('pg1', 5));
    router.onScope('app', keys('pg2', 6));
    assert.deepEqual(
      holds.map((h) => h.port),
      [5432, 5433],
      'one session per leadership for the whole router, not one per target',
    );
    answer.tcp = 'refused';
    holds[1]?.end({ wasEstablished: true });
    const status = router.status();
    const app = status.clusters['app'] as Record<string, unknown>;
    assert.equal(app['health'], 'lost');
    assert.equal(app['lost_reason'], 'the session held on 127.0.0.1:5433 ended');
    assert.equal(app['writable'], true, 'writes stay routed by the key: HAProxy and the VIP are unchanged');
    assert.ok(status.reasons.includes('app: leader pg2 lost: the session held on 127.0.0.1:5433 ended'));
    assert.equal(typeof status.timeline[0]?.lost_ms, 'number');
    assert.match(await metrics.registry.metrics(), /^switchyard_cluster_leader_lost\{cluster="app"\} 1$/m);
    await until('both targets to apply the lost leader', () =>
      [a.seen, b.seen].every((s) => s.at(-1)?.isLost === true),
    );
    assert.deepEqual(b.seen.at(-1), { leader: 'pg2', isWritable: true, isLost: true });
    answer.tcp = 'up';
    router.onScope('app', keys('pg1', 7));
    assert.equal((router.status().clusters['app'] as Record<string, unknown>)['health'], 'writable');
    await until('the new leader to be applied alive', () => b.seen.at(-1)?.leader === 'pg1');
    assert.equal(b.seen.at(-1)?.isLost, false);
  } finally {
    await router.close();
  }
});
