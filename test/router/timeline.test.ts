import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeaderTimeline } from '../../src/router/timeline.js';

const T0 = Date.parse('2026-11-28T02:40:00.000Z');

test('a leader change records key change, writable and each target, ending when the last target applied', () => {
  const t = new LeaderTimeline();
  t.keyChanged('app', 'pg1', 'pg2', T0);
  t.applied('haproxy', 7, T0 + 5, ['haproxy', 'pgbouncer']); // fencing generation: not the new route
  t.writable('app', 'pg2', T0 + 30, 8);
  t.applied('haproxy', 8, T0 + 34, ['haproxy', 'pgbouncer']);
  assert.equal(t.list()[0]?.all_applied_ms, null, 'pgbouncer has not applied yet');
  t.applied('pgbouncer', 9, T0 + 41, ['haproxy', 'pgbouncer']);
  assert.deepEqual(t.list(), [
    {
      cluster: 'app',
      from: 'pg1',
      to: 'pg2',
      key_changed_at: '2026-11-28T02:40:00.000Z',
      writable_ms: 30,
      applied_ms: { haproxy: 34, pgbouncer: 41 },
      all_applied_ms: 41,
      lost_ms: null,
    },
  ]);
});

test('the new leader seen dead is shown on its change, and cleared when it answers again; another member is not', () => {
  const t = new LeaderTimeline();
  t.keyChanged('app', 'pg1', 'pg2', T0);
  t.lost('app', 'pg1', T0 + 5);
  assert.equal(t.list()[0]?.lost_ms, null, 'pg1 is no longer the leader of this entry');
  t.lost('app', 'pg2', T0 + 900);
  assert.equal(t.list()[0]?.lost_ms, 900);
  t.lost('app', 'pg2', null);
  assert.equal(t.list()[0]?.lost_ms, null);
});

test('writable for another member or cluster does not complete an entry', () => {
  const t = new LeaderTimeline();
  t.keyChanged('app', 'pg1', 'pg2', T0);
  t.writable('app', 'pg3', T0 + 10, 4);
  t.writable('billing', 'pg2', T0 + 10, 4);
  assert.equal(t.list()[0]?.writable_ms, null);
});

test('keeps the newest entries only, newest first', () => {
  const t = new LeaderTimeline(2);
  t.keyChanged('app', 'a', 'b', T0);
  t.keyChanged('app', 'b', 'c', T0 + 1000);
  t.keyChanged('app', 'c', 'a', T0 + 2000);
  assert.deepEqual(
    t.list().map((e) => `${e.from}→${e.to}`),
    ['c→a', 'b→c'],
  );
});

test('a leader change is reported routed once, when every target applied the snapshot that first carried it', () => {
  const t = new LeaderTimeline();
  t.keyChanged('app', 'pg1', 'pg2', T0, 7);
  assert.deepEqual(t.routed(6, T0 + 10), [], 'one target still applies generation 6');
  const [done, ...rest] = t.routed(7, T0 + 25);
  assert.equal(rest.length, 0);
  assert.equal(done?.entry.to, 'pg2');
  assert.equal(done?.ms, 25);
  assert.deepEqual(t.routed(8, T0 + 40), [], 'reported once');
});

test('a newer leader change of the same cluster replaces the one not yet routed; a gone cluster reports none', () => {
  const t = new LeaderTimeline();
  t.keyChanged('app', 'pg1', 'pg2', T0, 7);
  t.keyChanged('app', 'pg2', 'pg3', T0 + 5, 8);
  t.keyChanged('other', 'a', 'b', T0 + 6, 9);
  t.forget('other');
  assert.deepEqual(
    t.routed(9, T0 + 30).map((r) => [r.entry.to, r.ms]),
    [['pg3', 25]],
  );
});
