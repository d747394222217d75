import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bedLogs,
  describeResult,
  runFault,
  startFaultBed,
  type FaultBed,
  type FaultKind,
} from './scenarios.js';

// Issue 13 item 5: real partitions. Each agent node (agent + PostgreSQL), each of 3 etcd members and the
// client live in their own network namespace; the client writes every 10 ms directly to every node
// (synchronous mode). Every fault asserts: no acknowledged write lost, never two nodes accepting writes,
// and the old primary stopped accepting writes before its leader key could expire.
let bed: FaultBed | undefined;

before(async () => {
  bed = await startFaultBed('syfa', '10.231.1');
});

after(async () => {
  await bed?.destroy();
});

async function check(kind: FaultKind, t: { diagnostic(m: string): void }): Promise<void> {
  if (!bed) throw new Error('the fault lab did not start');
  const r = await runFault(bed, kind);
  t.diagnostic(describeResult(r));
  const why = `${describeResult(r)}\n${bedLogs(bed)}`;
  assert.ok(r.acked > 100, `the client got too few acknowledgements to judge: ${why}`);
  assert.deepEqual(r.lost.slice(0, 10), [], `acknowledged writes missing on ${r.finalPrimary}: ${why}`);
  assert.equal(r.doubleWritable, 0, `samples with two nodes accepting writes: ${why}`);
  assert.deepEqual(r.agentsExited, [], `an agent process died during the fault: ${why}`);
  assert.ok(
    r.fencedBeforeExpiry,
    `the old primary ${r.oldPrimary} acknowledged a write after its key could expire: ${why}`,
  );
}

const faults: [FaultKind, string][] = [
  [
    'leader-cut-from-etcd',
    'a leader cut from etcd but reachable by clients stops accepting writes before its key expires',
  ],
  [
    'replica-cut-from-leader',
    'a replica cut from the leader loses no acknowledged write and never makes two primaries',
  ],
  ['etcd-leader-loss', 'losing the etcd raft leader of three members loses no acknowledged write'],
  [
    'sigstop-leader-agent',
    'a frozen (SIGSTOP) leader agent has its PostgreSQL fenced before the key expires',
  ],
  [
    'sigstop-leader-agent-watchdog-dead',
    'a frozen leader agent whose watchdog died has its PostgreSQL fenced before the key expires',
  ],
  [
    'kill9-leader-host',
    'kill -9 of the leader agent and its PostgreSQL fails over with no acknowledged write lost',
  ],
  [
    'rest-pool-exhausted-etcd-outage',
    'a leader whose REST pool is exhausted by slow GETs still demotes during an etcd outage',
  ],
];

for (const [kind, name] of faults) test(name, (t) => check(kind, t));
