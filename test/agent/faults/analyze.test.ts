import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  doubleWritableSamples,
  failoverOf,
  keyExpiry,
  longestGap,
  lostWrites,
  parseRecords,
  type AckRecord,
} from './analyze.js';

const ack = (node: string, id: number, at: number): AckRecord => ({ node, id, sent: at - 2, ack: at });

test('a clean failover (old primary, then new primary) has no double-writable sample', () => {
  const acks = [ack('a', 1, 1000), ack('a', 2, 1010), ack('b', 3, 4000), ack('b', 4, 4010)];
  assert.equal(doubleWritableSamples(acks), 0);
  const fo = failoverOf(acks, 'a');
  assert.equal(fo.newPrimary, 'b');
  assert.equal(fo.failoverMs, 2990);
});

test('two nodes acknowledging in the same 10 ms sample count as double-writable', () => {
  assert.equal(doubleWritableSamples([ack('a', 1, 1001), ack('b', 2, 1005)]), 1);
});

test('an old primary acknowledging again after the new one did counts even across samples', () => {
  const acks = [ack('a', 1, 1000), ack('b', 2, 2000), ack('a', 3, 2500), ack('b', 4, 3000)];
  assert.ok(doubleWritableSamples(acks) >= 2);
});

test('acknowledged ids absent from the final primary are lost', () => {
  const acks = [ack('a', 1, 1000), ack('a', 2, 1010), ack('b', 3, 4000)];
  assert.deepEqual(lostWrites(acks, new Set([1, 3])), [2]);
});

test('the key expiry is the last renewal seen plus the remaining ttl, up to another holder', () => {
  const leases = [
    { at: 1000, holder: 'a', lease: '1', ttl: 10 },
    { at: 3000, holder: 'a', lease: '1', ttl: 10 },
    { at: 4000, holder: 'a', lease: '1', ttl: 9 },
    { at: 14_000, holder: 'b', lease: '2', ttl: 10 },
    { at: 30_000, holder: 'a', lease: '3', ttl: 10 },
  ];
  assert.equal(keyExpiry(leases, 'a', 2000), 13_000);
  assert.equal(keyExpiry(leases, 'c'), null);
});

test('records cut by a kill are skipped and acks are sorted by acknowledgement time', () => {
  const text = [
    JSON.stringify({ k: 'ack', node: 'a', id: 2, sent: 5, ack: 20 }),
    JSON.stringify({ k: 'ack', node: 'a', id: 1, sent: 1, ack: 10 }),
    JSON.stringify({ k: 'lease', at: 1, holder: 'a', lease: '7', ttl: 10 }),
    '{"k":"ack","no',
  ].join('\n');
  const { acks, leases } = parseRecords(text);
  assert.deepEqual(
    acks.map((a) => a.id),
    [1, 2],
  );
  assert.equal(leases.length, 1);
});

test('the longest write gap includes the stretch up to the end of the window', () => {
  assert.equal(longestGap([ack('a', 1, 100), ack('a', 2, 300)], 0, 1000), 700);
});
