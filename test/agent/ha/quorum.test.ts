import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClusterState } from '../../../src/cluster/index.js';
import { isHealthiestNode, isSyncModeActive } from '../../../agent/ha/race.js';
import { patroni407Keys } from '../../fixtures.js';
import { cluster, snapshot } from './fixtures.js';
import { planSync } from '../../../agent/ha/sync.js';
import { SyncModeKeeper } from '../../../agent/config/sync-mode.js';

// The recorded Patroni 4.0.7 cluster in quorum mode, with its leader key gone (pg2 died).
const raw = patroni407Keys('lab4').filter((k) => k.key !== 'leader' && !k.key.endsWith('/pg2'));

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

const quorumCluster = () =>
  cluster({ config: { synchronous_mode: 'quorum' }, sync: { leader: 'pg1', sync_standby: 'pg2' } });
const streaming = (name: string, syncState: string) => ({
  applicationName: name,
  state: 'streaming',
  syncState,
  flushLsn: 1000,
});

test('a leader in a quorum-mode cluster neither rewrites /sync nor changes synchronous_standby_names', () => {
  const c = quorumCluster();
  const s = snapshot({
    cluster: c,
    pg: {
      synchronousStandbyNames: 'ANY 1 (pg2,pg3)',
      replication: [streaming('pg2', 'quorum'), streaming('pg3', 'quorum')],
    },
  });
  assert.deepEqual(planSync(s, c), []);
});

function keeper() {
  const errors: { obj: object; msg: string }[] = [];
  return { errors, k: new SyncModeKeeper({ error: (obj, msg) => errors.push({ obj, msg }) }) };
}

test('synchronous_mode quorum in /config is refused with one error naming the key, and the last accepted mode stays in force', () => {
  const { errors, k } = keeper();
  assert.equal(k.offer(true), true);
  assert.equal(k.offer('quorum'), true);
  assert.equal(k.offer('quorum'), true);
  assert.equal(errors.length, 1);
  assert.deepEqual(errors[0]?.obj, { code: 'SY_ERR_CONFIG_INVALID', key: 'synchronous_mode' });
  assert.match(
    errors[0]?.msg ?? '',
    /^config key synchronous_mode: .*found 'quorum'.*keeping synchronous_mode on/,
  );
  // The leader then keeps running the classic steps it can honour.
  const c = k.apply(quorumCluster());
  assert.equal(c.config.synchronousMode, true);
});

test('an agent that never saw another synchronous_mode keeps quorum as unsupported: it does not race and claims no standby', () => {
  const { errors, k } = keeper();
  const c = k.apply(quorumCluster());
  assert.equal(c.config.synchronousMode, 'quorum');
  assert.match(errors[0]?.msg ?? '', /no earlier value to keep/);
  assert.equal(isSyncModeActive(c), false);
  assert.deepEqual(planSync(snapshot({ cluster: c }), c), []);
});

test('a refused quorum is reported again after the cluster went back to a supported mode and then to quorum', () => {
  const { errors, k } = keeper();
  k.offer(false);
  k.offer('quorum');
  k.offer(true);
  assert.equal(k.offer('quorum'), true);
  assert.equal(errors.length, 2);
});
