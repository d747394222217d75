import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deadline } from '../../src/util/deadline.js';

test('a deadline aborts its signal when the time is up, and says it was the deadline', async () => {
  const limit = deadline(20);
  assert.equal(limit.signal.aborted, false);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(limit.signal.aborted, true);
  assert.equal(limit.isPast(), true);
  limit.done();
});

test("the caller's abort aborts the signal at once and is not a deadline", () => {
  const caller = new AbortController();
  const limit = deadline(10_000, caller.signal);
  caller.abort();
  assert.equal(limit.signal.aborted, true);
  assert.equal(limit.isPast(), false);
  limit.done();
});

test('a caller signal already aborted aborts the request before it starts', () => {
  const limit = deadline(10_000, AbortSignal.abort());
  assert.equal(limit.signal.aborted, true);
  limit.done();
});

test("done() stops the timer and leaves nothing on the caller's signal", async () => {
  const caller = new AbortController();
  const limit = deadline(20, caller.signal);
  limit.done();
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(limit.signal.aborted, false, 'the timer still fired after done()');
  caller.abort();
  assert.equal(limit.signal.aborted, false, "the caller's listener is still attached after done()");
});
