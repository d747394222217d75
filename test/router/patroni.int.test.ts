import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PATRONI_SUPERUSER, waitFor } from '../harness/index.js';
import {
  startPatroniRouterLab,
  watchLeaderV3,
  type LeaderTimeline,
  type PatroniRouterLab,
} from '../harness/patroni-router.js';
import { routerStatus, startRouterProcess, waitApplied } from '../harness/router.js';
import { Writer, acksFromNonHolders } from '../harness/writer.js';

// A real 3-node Patroni 3.0.2 cluster (ttl 10, loop_wait 2, retry_timeout 4) behind a real HAProxy
// managed by a router process. A client writes every 10 ms through the primary listener; every
// acknowledged write must come from the node holding the leader key at that time.
let lab: PatroniRouterLab;
let routerConfig: Record<string, unknown>;
let router: PatroniRouterLab['router'];
let timeline: LeaderTimeline;
let stopWatch: (() => Promise<void>) | undefined;

function holderNow(): string | null {
  return timeline.holder();
}

before(async () => {
  lab = await startPatroniRouterLab({
    name: 'router-patroni',
    routing: { writable_probe: { method: 'sql', user: 'postgres', password: PATRONI_SUPERUSER.password } },
    // The leader-key timeline, as the test sees it.
    beforeRouter: async ({ etcd }) => {
      ({ timeline, stop: stopWatch } = await watchLeaderV3(etcd.clientUrls, 'app'));
    },
  });
  ({ router, routerConfig } = lab);
});

after(async () => {
  await stopWatch?.();
  await lab?.stop();
});

async function writesDuring(action: () => Promise<void>, settleMs = 1500) {
  const writer = new Writer(lab.primaryPort, PATRONI_SUPERUSER.password).start();
  await new Promise((r) => setTimeout(r, 500));
  await action();
  await new Promise((r) => setTimeout(r, settleMs));
  return writer.stop();
}

function portOf(name: string): number {
  return lab.cluster.nodes.find((n) => n.name === name)!.pgPort;
}

test('the rendered config passes haproxy -c and writes reach the leader', async () => {
  const result = await writesDuring(async () => undefined, 500);
  assert.ok(
    result.acks.length > 20,
    `expected writes to succeed, got ${result.acks.length} and errors ${[...result.errors]}`,
  );
  assert.ok(result.acks.every((a) => a.port === portOf(holderNow()!)));
});

test('after patronictl switchover writes reach the new primary, never a node without the leader key', async () => {
  let next = '';
  const result = await writesDuring(async () => {
    next = await lab.cluster.switchover();
  });
  assert.equal(result.acks.at(-1)?.port, portOf(next), 'the last writes landed on the new primary');
  assert.deepEqual(acksFromNonHolders(result.acks, timeline.spans, lab.portToName), []);
  assert.equal(result.readOnlyErrors, 0, 'no write was sent to a read-only node');
});

test('with the router killed (-9), HAProxy checks still follow a switchover; a new router re-applies the state', async () => {
  await lab.cluster.waitForHealthy();
  await waitApplied(router.api, 15_000);
  lab.group.signal('router', 'SIGKILL');
  await router.proc.exited;
  const next = await lab.cluster.switchover();
  await waitFor(
    async () => {
      const r = await new Writer(lab.primaryPort, PATRONI_SUPERUSER.password, 10, 1).start().stop();
      return r.acks[0]?.port === portOf(next);
    },
    { what: `HAProxy checks alone route writes to ${next}`, timeoutMs: 30_000, intervalMs: 500 },
  );
  router = await startRouterProcess(lab.group, 'router', routerConfig);
  const status = await waitApplied(router.api, 15_000);
  assert.equal(status.healthy, true, status.reasons.join('; '));
  assert.equal((status.clusters['app'] as { leader: string } | undefined)?.leader, next);
});

test('after kill -9 of the leader (Patroni and PostgreSQL) writes reach the new primary', async () => {
  let killed = '';
  const result = await writesDuring(async () => {
    killed = await lab.cluster.killLeader();
    await lab.cluster.waitForLeader({ not: killed, timeoutMs: 60_000 });
  });
  const leader = holderNow();
  assert.notEqual(leader, killed);
  assert.equal(result.acks.at(-1)?.port, portOf(leader!));
  assert.deepEqual(acksFromNonHolders(result.acks, timeline.spans, lab.portToName), []);
  assert.equal(result.readOnlyErrors, 0);
  // The killed node stays down: the remaining tests need only two nodes, and Patroni 3.0.2 healing a
  // killed old primary on a loaded 2-core machine is slow and not what this file tests.
});

test('a frozen old primary (Patroni SIGSTOP, PostgreSQL running) gets no write once the key is elsewhere', async () => {
  const frozen = holderNow()!;
  const result = await writesDuring(async () => {
    lab.cluster.sigstop(frozen);
    try {
      await waitFor(() => holderNow() !== frozen && holderNow() !== null, {
        what: 'leader key moved off the frozen node',
        timeoutMs: 60_000,
      });
      await waitFor(async () => (await routerStatus(router.api)).clusters.app?.writable === true, {
        what: 'new leader writable',
        timeoutMs: 30_000,
      });
    } finally {
      lab.cluster.sigcont(frozen);
    }
  }, 3000);
  const bad = acksFromNonHolders(result.acks, timeline.spans, lab.portToName);
  assert.deepEqual(
    bad,
    [],
    `writes acknowledged by a node that had lost the key (frozen ${frozen}); leader spans: ${JSON.stringify(timeline.spans.slice(-4))}; ports: ${JSON.stringify([...lab.portToName])}`,
  );
  // Last test on purpose: Patroni 3.0.2's resumed old leader may rewrite the key and leave the cluster
  // unable to heal (the upstream bug this router cannot fix); nothing runs after it.
});
