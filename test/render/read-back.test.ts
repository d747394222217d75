import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readBackUntilApplied, type ReadBackResult } from '../../src/render/read-back.js';

/** A read that answers from `answers` in turn (the last one repeats), counting the calls. */
function reads(...answers: Array<ReadBackResult<string> | Error>) {
  let calls = 0;
  const read = async () => {
    const answer = answers[Math.min(calls++, answers.length - 1)] as ReadBackResult<string> | Error;
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { read, calls: () => calls };
}

const failure = (problem: string) => `not applied: ${problem}`;

test('an asynchronous reload is read back until it shows, and the read value is returned', async () => {
  const r = reads({ problem: 'old primary' }, { problem: 'old primary' }, { value: 'live' });
  const value = await readBackUntilApplied({
    ...r,
    timeoutMs: 1000,
    pollMs: 1,
    isReadErrorRetried: true,
    failure,
  });
  assert.equal(value, 'live');
  assert.equal(r.calls(), 3);
});

test('a reload that never shows fails with SY_ERR_RELOAD_FAILED and the last problem, within its bound', async () => {
  const r = reads({ problem: 'first' }, new Error('console refused'));
  const started = Date.now();
  await assert.rejects(
    readBackUntilApplied({ ...r, timeoutMs: 50, pollMs: 5, isReadErrorRetried: true, failure }),
    { code: 'SY_ERR_RELOAD_FAILED', message: 'not applied: console refused' },
  );
  assert.ok(Date.now() - started < 1000);
});

test('a synchronous reload (timeout 0) is read once; a read error is rethrown when not retried', async () => {
  const once = reads({ problem: 'stale' }, { value: 'late' });
  await assert.rejects(
    readBackUntilApplied({ ...once, timeoutMs: 0, pollMs: 1, isReadErrorRetried: false, failure }),
    { message: 'not applied: stale' },
  );
  assert.equal(once.calls(), 1);
  const broken = new Error('socket closed');
  const r = reads(broken);
  await assert.rejects(
    readBackUntilApplied({ ...r, timeoutMs: 1000, pollMs: 1, isReadErrorRetried: false, failure }),
    (err) => err === broken,
  );
  assert.equal(r.calls(), 1);
});
