import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../../src/log.js';
import type { RouteLeader } from '../../../src/route/view.js';
import { LeaderHealth, type LeaderHealthIo } from '../../../src/router/leader-health/index.js';
import type { HoldEnd, ProbeResult } from '../../../src/router/leader-health/liveness.js';
import type { ProbeOutcome } from '../../../src/router/leader-health/probe.js';

function leader(name: string, revision: number, isWritable = true, port = 5432): RouteLeader {
  return {
    name,
    host: '127.0.0.1',
    port,
    api: null,
    isWritable,
    reason: isWritable ? null : `leader ${name} reports role replica, not primary`,
    leaderRevision: revision,
    isLost: false,
    lostReason: null,
  };
}

/** A LeaderHealth whose held sessions, TCP probe and writable probe are recorded and answered by the test. */
function setup(options: { method?: 'member' | 'rest'; liveness?: boolean } = {}) {
  const held: Array<{ port: number; end: (e: HoldEnd) => void; released: boolean }> = [];
  const changes: string[] = [];
  const never: string[] = [];
  const tcp = { answer: 'up' as ProbeResult };
  const writable: Array<{ name: string; resolve: (o: ProbeOutcome) => void; isCurrent: () => boolean }> = [];
  const io: LeaderHealthIo = {
    probeTcp: async () => tcp.answer,
    hold: (endpoint, onEnd) => {
      const h = { port: endpoint.port, end: onEnd, released: false };
      held.push(h);
      return () => {
        h.released = true;
      };
    },
    probeWritable: (l, _settings, isCurrent) =>
      new Promise<ProbeOutcome>((resolve) => writable.push({ name: l.name, resolve, isCurrent })),
  };
  const health = new LeaderHealth(
    {
      probe: {
        method: options.method ?? 'rest',
        intervalMs: 20,
        timeoutMs: 1000,
        user: 'u',
        dbname: 'd',
        password: undefined,
      },
      liveness:
        options.liveness === false ? null : { intervalMs: 10_000, timeoutMs: 500, failures: 2, hold: true },
    },
    {
      onChange: (scope) => changes.push(scope),
      onNeverWritable: (scope, name, reason) => never.push(`${scope}/${name}: ${reason}`),
    },
    silentLogger(),
    io,
  );
  return { health, held, changes, never, tcp, writable };
}

test('a writable leader is held; its session ending makes the fact lost at once, for that leadership only', () => {
  const { health, held, changes } = setup();
  health.follow('app', leader('pg1', 7));
  assert.deepEqual(
    held.map((h) => h.port),
    [5432],
    'one session held on the writable leader',
  );
  assert.equal(health.fact('app')?.lostReason, null);
  held[0]?.end({ wasEstablished: true });
  assert.deepEqual(changes, ['app'], 'the router is told at once');
  assert.deepEqual(health.fact('app'), {
    name: 'pg1',
    leaderRevision: 7,
    isProbedWritable: false,
    lostReason: 'the session held on 127.0.0.1:5432 ended',
  });
  health.close();
});

test('a leadership change releases the old hold and starts a fresh fact, even at the same address', () => {
  const { health, held } = setup();
  health.follow('app', leader('pg1', 7));
  held[0]?.end({ wasEstablished: true });
  assert.notEqual(health.fact('app')?.lostReason, null);
  health.follow('app', leader('pg1', 9));
  assert.equal(held.length, 2, 'the new leadership is held anew');
  assert.deepEqual(health.fact('app'), {
    name: 'pg1',
    leaderRevision: 9,
    isProbedWritable: false,
    lostReason: null,
  });
  health.follow('app', leader('pg2', 10, true, 5433));
  assert.equal(held[1]?.released, true, 'the old leadership is released');
  assert.deepEqual(
    held.map((h) => h.port),
    [5432, 5432, 5433],
  );
  health.close();
  assert.equal(held[2]?.released, true, 'close releases the held session');
});

test('a leader not yet writable is probed, not held; the probe finding it writable changes the fact', async () => {
  const { health, held, changes, writable } = setup();
  health.follow('app', leader('pg2', 3, false));
  health.follow('app', leader('pg2', 3, false));
  assert.equal(writable.length, 1, 'one probe per leadership, however many views');
  assert.equal(held.length, 0, 'a leader not writable is not held');
  writable[0]?.resolve({ isWritable: true });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(changes, ['app']);
  assert.equal(health.fact('app')?.isProbedWritable, true);
  health.follow('app', leader('pg2', 3, true));
  assert.equal(held.length, 1, 'held once writable');
  health.close();
});

test('a probe giving up is said once; a probe of an old leadership is dropped', async () => {
  const { health, changes, never, writable } = setup();
  health.follow('app', leader('pg2', 3, false));
  health.follow('app', leader('pg3', 4, false));
  assert.equal(writable[0]?.isCurrent(), false, 'the probe of pg2 sees its leadership is over');
  writable[0]?.resolve({ isWritable: true });
  writable[1]?.resolve({ isWritable: false, reason: 'not writable after 1000 ms (still in recovery)' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(changes, [], 'an old leadership never changes the fact');
  assert.deepEqual(never, ['app/pg3: not writable after 1000 ms (still in recovery)']);
  assert.equal(health.fact('app')?.isProbedWritable, false);
  health.close();
});

test('with method member nothing is probed; with liveness off nothing is held', () => {
  const { health, held, writable } = setup({ method: 'member', liveness: false });
  health.follow('app', leader('pg2', 3, false));
  health.follow('app', leader('pg2', 3, true));
  assert.equal(writable.length, 0);
  assert.equal(held.length, 0);
  health.close();
});

test('a cluster with no leader, or gone, is forgotten; close leaves no timer, no hold and no probe current', () => {
  const { health, held, writable } = setup();
  health.follow('app', leader('pg1', 7));
  health.follow('billing', leader('pg5', 2, false));
  assert.equal(health.isIdle, false);
  health.follow('app', null);
  assert.equal(held[0]?.released, true);
  assert.equal(health.fact('app'), undefined);
  health.close();
  assert.equal(health.isIdle, true, 'no leader followed and the interval timer cleared');
  assert.equal(writable[0]?.isCurrent(), false, 'a probe in flight stops at its next attempt');
  health.follow('app', leader('pg1', 8));
  assert.equal(held.length, 1, 'a closed leader health starts nothing');
  assert.equal(health.isIdle, true);
});
