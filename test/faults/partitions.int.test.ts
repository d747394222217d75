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

// Faults that fail on the agent of today (issue 13 item 1); the lead unskips them after merging the fixes.
// SWITCHYARD_FAULTS_UNSKIP=1 runs them anyway.
const unskip = process.env['SWITCHYARD_FAULTS_UNSKIP'] === '1';
const KNOWN_BUG = {
  watchdog: unskip
    ? false
    : 'issue 13 bug "a dead watchdog process goes unnoticed": with the watchdog killed and the agent frozen, ' +
      'the old primary acknowledged writes after its key could expire (about 0.1 s later, then the new leader)',
  statusQuery: unskip
    ? false
    : 'issue 13 bug "a failed status query disarms fencing": slow agent queries + REST pool exhausted + etcd ' +
      'outage, the leader never demoted (acked 2.3 s after its key could expire); also the agent crashes on ' +
      "an unhandled pg 'error' event (Connection terminated unexpectedly / ECONNRESET) when PostgreSQL stops",
};

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

test('a leader cut from etcd but reachable by clients stops accepting writes before its key expires', async (t) => {
  await check('leader-cut-from-etcd', t);
});

test('a replica cut from the leader loses no acknowledged write and never makes two primaries', async (t) => {
  await check('replica-cut-from-leader', t);
});

test('losing the etcd raft leader of three members loses no acknowledged write', async (t) => {
  await check('etcd-leader-loss', t);
});

test('a frozen (SIGSTOP) leader agent has its PostgreSQL fenced before the key expires', async (t) => {
  await check('sigstop-leader-agent', t);
});

test(
  'a frozen leader agent whose watchdog died has its PostgreSQL fenced before the key expires',
  { skip: KNOWN_BUG.watchdog },
  async (t) => {
    await check('sigstop-leader-agent-watchdog-dead', t);
  },
);

test('kill -9 of the leader agent and its PostgreSQL fails over with no acknowledged write lost', async (t) => {
  await check('kill9-leader-host', t);
});

test(
  'a leader whose REST pool is exhausted by slow GETs still demotes during an etcd outage',
  { skip: KNOWN_BUG.statusQuery },
  async (t) => {
    await check('rest-pool-exhausted-etcd-outage', t);
  },
);
