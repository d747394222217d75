import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClusterState } from '../../../src/cluster/index.js';
import { formatHistory, formatList, historyRows, listRows } from '../../../src/cli/ctl/format.js';
import { patroni302Keys, readFixture } from '../../fixtures.js';

const cluster = buildClusterState('lab', patroni302Keys());
const [listJson, historyJson] = readFixture('patronictl-3.0.2-list-history.json')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));

test('list rows equal patronictl 3.0.2 --format json for the recorded cluster', () => {
  assert.deepEqual(listRows('lab', cluster), listJson);
});

test('history rows equal patronictl 3.0.2 history --format json', () => {
  assert.deepEqual(historyRows(cluster), historyJson);
});

test('list prints a patronictl-style table with the title in the top rule', () => {
  assert.equal(
    formatList('lab', cluster),
    [
      '+ Cluster: lab ------------+--------------+---------+----+-----------+',
      '| Member | Host            | Role         | State   | TL | Lag in MB |',
      '+--------+-----------------+--------------+---------+----+-----------+',
      '| node1  | 127.0.0.1:24011 | Sync Standby | running | 11 |         0 |',
      '| node2  | 127.0.0.1:24012 | Replica      | running | 11 |         0 |',
      '| node3  | 127.0.0.1:24013 | Leader       | running | 11 |           |',
      '+--------+-----------------+--------------+---------+----+-----------+',
    ].join('\n'),
  );
});

test('topology puts the leader first and marks replicas', () => {
  const lines = formatList('lab', cluster, true).split('\n');
  assert.match(lines[3] as string, /^\| node3 /);
  assert.match(lines[4] as string, /^\| \+ node1 /);
});

test('history prints one line per timeline', () => {
  const lines = formatHistory(cluster).split('\n');
  assert.equal(
    lines[3],
    '|  1 | 70664984 | no recovery target specified | 2026-11-22T15:18:21.698774+00:00 | node2      |',
  );
});
