import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import { CycleLoop } from '../../agent/loop.js';
import { TaskSlot } from '../../agent/task.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a step asked for between cycles waits for the cycle in progress and runs before the next one', async () => {
  const events: string[] = [];
  let n = 0;
  const loop = new CycleLoop({
    cycle: async () => {
      const i = ++n;
      events.push(`cycle ${i} start`);
      await tick(30);
      events.push(`cycle ${i} end`);
    },
    onError: () => undefined,
    sleepMs: () => 0,
  });
  loop.start();
  await tick(5); // cycle 1 is in progress
  loop.wake(); // and another is due at once after it
  const result = await loop.between(() => {
    events.push('step');
    return 42;
  });
  await tick(10);
  loop.halt();
  await loop.running;
  assert.equal(result, 42);
  assert.deepEqual(events.slice(0, 3), ['cycle 1 start', 'cycle 1 end', 'step']);
  assert.equal(events[3], 'cycle 2 start');
});

test('a second long step is refused while one runs; the slot is free again once it ended', async () => {
  const slot = new TaskSlot(silentLogger(), () => undefined);
  let finish: () => void = () => undefined;
  const first = slot.run('reinitialize', 'creating replica', () => new Promise<void>((r) => (finish = r)));
  let secondRan = false;
  const second = await slot.run('start', 'starting', async () => {
    secondRan = true;
  });
  assert.equal(second, 'reinitialize in progress');
  assert.equal(secondRan, false);
  finish();
  assert.equal(await first, null);
  assert.equal(slot.current, null);
  assert.equal(await slot.run('start', 'starting', async () => undefined), null);
});
