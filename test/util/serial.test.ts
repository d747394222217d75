import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serial } from '../../src/util/serial.js';

test('serial runs tasks one at a time in call order; a failure rejects only its own caller', async () => {
  const run = serial();
  const events: string[] = [];
  const task =
    (name: string, ms: number, fail = false) =>
    async () => {
      events.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      events.push(`end ${name}`);
      if (fail) throw new Error(name);
      return name;
    };
  const results = await Promise.allSettled([run(task('a', 30)), run(task('b', 1, true)), run(task('c', 5))]);
  await run.idle();
  assert.deepEqual(events, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
});
