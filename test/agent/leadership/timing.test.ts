import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TIMING, TimingKeeper, checkTiming } from '../../../agent/leadership/timing.js';

const lastGood = { ttl: 30, loopWait: 10, retryTimeout: 10 };

const cases: { name: string; raw: Record<string, unknown>; problem: RegExp | null; ttl?: number }[] = [
  { name: 'defaults when the keys are missing', raw: {}, problem: null, ttl: 30 },
  {
    name: 'a valid timing is taken',
    raw: { ttl: 40, loop_wait: 5, retry_timeout: 10 },
    problem: null,
    ttl: 40,
  },
  {
    name: 'ttl 5 with loop_wait 10 is refused (a healthy leader would fence itself after every renewal)',
    raw: { ttl: 5, loop_wait: 10 },
    problem: /expected loop_wait \+ 2 × retry_timeout ≤ ttl, found 10 \+ 2 × 10 > 5/,
  },
  {
    name: 'loop_wait + 2 × retry_timeout above ttl is refused',
    raw: { ttl: 20, loop_wait: 10, retry_timeout: 10 },
    problem: /found 10 \+ 2 × 10 > 20/,
  },
  {
    name: 'loop_wait 0 is refused',
    raw: { ttl: 30, loop_wait: 0 },
    problem: /loop_wait: expected at least 1 s, found 0/,
  },
  {
    name: 'retry_timeout 2 is refused',
    raw: { ttl: 30, retry_timeout: 2 },
    problem: /retry_timeout: expected at least 3 s, found 2/,
  },
  {
    name: 'a loop_wait beyond Node timer range is refused (it would spin every 1 ms)',
    raw: { ttl: 1e10, loop_wait: 1e9, retry_timeout: 10 },
    problem: /beyond Node's timer range/,
  },
  {
    name: 'a fractional or non-numeric ttl is refused',
    raw: { ttl: '30' },
    problem: /ttl: expected a whole number of seconds, found "30"/,
  },
];

for (const c of cases) {
  test(`timing from /config: ${c.name}`, () => {
    const r = checkTiming(c.raw, lastGood);
    if (c.problem === null) {
      assert.equal(r.problem, null);
      assert.equal(r.timing.ttl, c.ttl);
    } else {
      assert.match(r.problem ?? '', c.problem);
      assert.deepEqual(r.timing, lastGood, 'a refused timing keeps the last good one');
    }
  });
}

test("a ttl under Patroni's 20 s that keeps the sum rule is accepted with a warning (the lab runs ttl 10)", () => {
  const r = checkTiming({ ttl: 10, loop_wait: 2, retry_timeout: 4 }, lastGood);
  assert.equal(r.problem, null);
  assert.deepEqual(r.timing, { ttl: 10, loopWait: 2, retryTimeout: 4 });
  assert.match(r.warning ?? '', /under Patroni's minimum of 20 s/);
});

test('the timing keeper keeps the last good /config and logs a refused one once', () => {
  const errors: string[] = [];
  const keeper = new TimingKeeper({ error: (_o, m) => errors.push(m), warn: () => undefined }, {});
  assert.deepEqual(keeper.current, DEFAULT_TIMING);
  keeper.offer({ ttl: 40, loop_wait: 5, retry_timeout: 10 }, 'config');
  keeper.offer({ ttl: 5, loop_wait: 10 }, 'config');
  keeper.offer({ ttl: 5, loop_wait: 10 }, 'config');
  assert.deepEqual(keeper.current, { ttl: 40, loopWait: 5, retryTimeout: 10 });
  assert.equal(errors.length, 1);
  assert.match(errors[0] as string, /^config: .*; refused, keeping ttl 40, loop_wait 5, retry_timeout 10$/);
});
