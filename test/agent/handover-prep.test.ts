import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentApiImpl } from '../../agent/api-impl.js';
import { HandoverPrep } from '../../agent/leadership/handover-prep.js';
import type { AgentPort } from '../../agent/node-port.js';
import type { PeerStatus } from '../../agent/ha/types.js';
import { cluster, peer } from './ha/fixtures.js';

function prep(now: { t: number }) {
  const started: number[] = [];
  const p = new HandoverPrep(
    async () => void started.push(now.t),
    1000,
    () => now.t,
  );
  return { p, started };
}

test('an early CHECKPOINT is started once and taken once by the handover; a stale one is not taken', async () => {
  const now = { t: 0 };
  const { p, started } = prep(now);
  p.startCheckpoint();
  p.startCheckpoint();
  assert.deepEqual(started, [0], 'a second request within a second does not start another');
  now.t = 300;
  const taken = p.takeCheckpoint();
  assert.ok(taken, 'the handover 300 ms later waits for it instead of running its own');
  await taken;
  assert.equal(p.takeCheckpoint(), null, 'used once');
  p.startCheckpoint();
  now.t = 1301;
  assert.equal(p.takeCheckpoint(), null, 'over a second old: the handover runs its own CHECKPOINT');
});

test("the members' answers of a switchover request reach the loop's check only while fresh, and once", () => {
  const now = { t: 0 };
  const { p } = prep(now);
  const peers = new Map<string, PeerStatus>([['pg2', peer('pg2')]]);
  assert.equal(p.takePeers(), null);
  p.notePeers(peers);
  now.t = 999;
  assert.equal(p.takePeers(), peers);
  assert.equal(p.takePeers(), null, 'used once: the next check asks the members again');
  p.notePeers(peers);
  now.t = 2000;
  assert.equal(p.takePeers(), null, 'over a second old');
});

test('POST /switchover starts the CHECKPOINT only on the leader it names, only for a switchover now', () => {
  const state = cluster({});
  let checkpoints = 0;
  let isLeader = true;
  const agent = {
    config: { name: 'pg1' },
    isLeaderNow: () => isLeader,
    handoverPrep: { startCheckpoint: () => void checkpoints++ },
  } as unknown as AgentPort;
  const api = new AgentApiImpl(agent);
  assert.equal(state.leader?.name, 'pg1');
  api.prepareHandover(state, { leader: 'pg2' });
  api.prepareHandover(state, { candidate: 'pg2' });
  api.prepareHandover(state, { leader: 'pg1', scheduled_at: new Date(Date.now() + 60_000).toISOString() });
  assert.equal(checkpoints, 0);
  isLeader = false;
  api.prepareHandover(state, { leader: 'pg1' });
  assert.equal(checkpoints, 0, 'not while this node does not hold the lock');
  isLeader = true;
  api.prepareHandover(state, { leader: 'pg1', candidate: 'pg2' });
  assert.equal(checkpoints, 1);
});
