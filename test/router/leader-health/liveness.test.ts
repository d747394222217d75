import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LeaderLiveness,
  type Hold,
  type HoldEnd,
  type ProbeResult,
} from '../../../src/router/leader-health/liveness.js';

const pg1 = { host: '127.0.0.1', port: 5432, member: 'pg1' };

/** A hold that records each held connection; the test ends them as PostgreSQL would. */
function fakeHold() {
  const held: Array<{ end: (e: HoldEnd) => void; released: boolean }> = [];
  const hold: Hold = (_endpoint, onEnd) => {
    const h = { end: onEnd, released: false };
    held.push(h);
    return () => {
      h.released = true;
    };
  };
  return { held, hold };
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function liveness(
  answer: () => ProbeResult | Promise<ProbeResult>,
  hold: Hold,
  changes: string[],
  holdErrors: string[] = [],
) {
  return new LeaderLiveness(
    { intervalMs: 10_000, timeoutMs: 500, failures: 2 },
    (cluster) => changes.push(cluster),
    (_cluster, _endpoint, message) => holdErrors.push(message),
    async () => answer(),
    hold,
  );
}

test('a logged-in session ending reports the leader lost at once, before the probe answers', async () => {
  const { held, hold } = fakeHold();
  const changes: string[] = [];
  let answerProbe: (r: ProbeResult) => void = () => undefined;
  const l = liveness(() => new Promise<ProbeResult>((r) => (answerProbe = r)), hold, changes);
  try {
    l.watch(new Map([['demo', pg1]]));
    held[0]?.end({ wasEstablished: true });
    assert.deepEqual(changes, ['demo'], 'reported synchronously, the probe still pending');
    assert.ok(l.isLost('demo', pg1));
    answerProbe('refused');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(changes, ['demo'], 'confirmed by the probe: no second change');
    assert.equal(held.length, 1, 'a lost leader is not held again');
  } finally {
    l.stop();
  }
});

test('a connection that never logged in is probed at once: a refused port is reported lost without waiting for the 10 s tick', async () => {
  const { held, hold } = fakeHold();
  const changes: string[] = [];
  let answer: ProbeResult = 'up';
  const l = liveness(() => answer, hold, changes);
  try {
    l.watch(new Map([['demo', pg1]]));
    assert.equal(held.length, 1, 'one session held on the leader');
    answer = 'refused';
    held[0]?.end({});
    await until('the leader to be reported lost', () => changes.length === 1);
    assert.ok(l.isLost('demo', pg1));
    assert.equal(held.length, 1, 'a lost leader is not held again');
  } finally {
    l.stop();
  }
});

test('a session ended while the port still answers (idle timeout) is back at once and held again later', async () => {
  const { held, hold } = fakeHold();
  const changes: string[] = [];
  const l = liveness(() => 'up', hold, changes);
  try {
    l.watch(new Map([['demo', pg1]]));
    held[0]?.end({ wasEstablished: true });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(changes, ['demo', 'demo'], 'lost, then back when the probe answers');
    assert.equal(l.isLost('demo', pg1), false);
    assert.equal(held.length, 1, 'not re-held at once (at most one hold per second per leader)');
    await l.probeAll();
    assert.equal(held.length, 1);
    await new Promise((r) => setTimeout(r, 1000));
    await l.probeAll();
    assert.equal(held.length, 2, 'held again by the next probe after a second');
  } finally {
    l.stop();
  }
  assert.equal(held[1]?.released, true, 'stop releases the held session');
});

test('a refused login is reported once and not retried until the leader changes', async () => {
  const { held, hold } = fakeHold();
  const changes: string[] = [];
  const errors: string[] = [];
  const l = liveness(() => 'up', hold, changes, errors);
  try {
    l.watch(new Map([['demo', pg1]]));
    held[0]?.end({ loginError: 'password authentication failed for user "postgres"' });
    await new Promise((r) => setTimeout(r, 1100));
    await l.probeAll();
    assert.equal(held.length, 1);
    assert.deepEqual(errors, ['password authentication failed for user "postgres"']);
    assert.match(l.holdProblems()[0] ?? '', /cannot log in to the leader of demo at 127\.0\.0\.1:5432/);
    assert.deepEqual(changes, [], 'a login problem is not a dead leader');
    l.watch(new Map([['demo', { ...pg1, port: 5433, member: 'pg2' }]]));
    assert.equal(held.length, 2, 'a new leader is held again');
    assert.deepEqual(l.holdProblems(), []);
  } finally {
    l.stop();
  }
});
