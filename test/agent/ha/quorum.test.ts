import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClusterState, type RawKey } from '../../../src/cluster/index.js';
import { isHealthiestNode, isSyncModeActive } from '../../../agent/ha/race.js';
import { readFixture } from '../../fixtures.js';
import { snapshot } from './fixtures.js';

// The recorded Patroni 4.0.7 cluster in quorum mode, with its leader key gone (pg2 died).
const keys = JSON.parse(readFixture('patroni-4.0.7-keys.json')).keys as Record<
  string,
  { value: string; lease: boolean; mod_revision: number }
>;
const raw: RawKey[] = Object.entries(keys)
  .filter(([k]) => k.startsWith('/service/lab4/') && !k.endsWith('/leader') && !k.endsWith('/pg2'))
  .map(([k, v]) => ({
    key: k.slice('/service/lab4/'.length),
    value: v.value,
    modRevision: v.mod_revision,
    lease: v.lease ? '42' : '0',
  }));

test('a /sync key written in quorum mode by Patroni 4 parses without crashing and is not read as classic sync', () => {
  const cluster = buildClusterState('lab4', raw);
  assert.equal(cluster.config.synchronousMode, 'quorum');
  assert.equal(isSyncModeActive(cluster), false);
});

test('an agent replica in a quorum-mode cluster does not race for the leader key', () => {
  const cluster = buildClusterState('lab4', raw);
  const s = snapshot({
    name: 'pg1',
    cluster,
    pg: { isInRecovery: true, timeline: 2, walPosition: 117440608 },
  });
  const verdict = isHealthiestNode(s, cluster, { checkLag: true });
  assert.equal(verdict.isHealthiest, false);
  assert.match(verdict.reason ?? '', /quorum is not implemented/);
});
