import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { PATRONI_SUPERUSER, waitFor } from '../harness/index.js';
import { LeaderTimeline, startPatroniRouterLab, type PatroniRouterLab } from '../harness/patroni-router.js';
import { routerStatus, waitApplied } from '../harness/router.js';
import { Writer, acksFromNonHolders } from '../harness/writer.js';

// A real Patroni 3.0.2 cluster whose YAML has an `etcd:` section (etcd's v2 API, python-etcd), behind a
// real HAProxy managed by a router process with `dcs.type: etcd`. A client writes every 10 ms through
// the primary listener; every acknowledged write must come from the node holding the leader key.
let lab: PatroniRouterLab;
const timeline = new LeaderTimeline();
const spans = timeline.spans;
const stopWatch = new AbortController();

/** Moments a member's key first showed it as primary (`role: master`), per the test's own watch. */
const promotions: Array<{ name: string; at: number }> = [];

/**
 * The leader-key timeline and member promotions as the test sees them, from its own v2 long poll on the
 * scope (not the code under test).
 */
async function watchScope(url: string): Promise<void> {
  const record = (name: string | null) => timeline.record(name);
  const primaries = new Set<string>();
  const member = (name: string, value: string | null) => {
    let role: unknown = null;
    try {
      role = value === null ? null : (JSON.parse(value) as { role?: unknown }).role;
    } catch {
      role = null;
    }
    const isPrimary = role === 'master' || role === 'primary';
    if (isPrimary && !primaries.has(name)) promotions.push({ name, at: Date.now() });
    if (isPrimary) primaries.add(name);
    else primaries.delete(name);
  };
  const dir = `${url}/v2/keys/service/app`;
  const first = await request(`${dir}/leader?quorum=true`, { signal: stopWatch.signal });
  const body = (await first.body.json()) as { node?: { value: string } };
  record(body.node?.value ?? null);
  let waitIndex = Number(first.headers['x-etcd-index']) + 1;
  while (!stopWatch.signal.aborted) {
    const res = await request(`${dir}?wait=true&recursive=true&waitIndex=${waitIndex}`, {
      signal: stopWatch.signal,
      bodyTimeout: 0,
    });
    const event = (await res.body.json()) as {
      action?: string;
      node?: { key: string; value?: string; modifiedIndex: number };
    };
    if (!event.node) throw new Error(`scope watch in the test failed: ${JSON.stringify(event)}`);
    const isPut = ['set', 'create', 'update', 'compareAndSwap'].includes(event.action ?? '');
    const value = isPut ? (event.node.value ?? null) : null;
    const key = event.node.key.slice('/service/app/'.length);
    if (key === 'leader') record(value);
    else if (key.startsWith('members/')) member(key.slice('members/'.length), value);
    waitIndex = event.node.modifiedIndex + 1;
  }
}

function holderNow(): string | null {
  return timeline.holder();
}

before(async () => {
  lab = await startPatroniRouterLab({
    name: 'router-patroni-v2',
    dcsApi: 'etcd',
    beforeRouter: async ({ etcd }) => {
      const v3Keys = await etcd.etcdctl(['get', '--prefix', '--keys-only', '/service/']);
      assert.equal(v3Keys.trim(), '', 'Patroni wrote no v3 keys: it runs on the v2 API');
      void watchScope(etcd.clientUrls[0] as string).catch((err: unknown) => {
        if (!stopWatch.signal.aborted) console.error(err);
      });
      await waitFor(() => spans.length > 0 && holderNow() !== null, { what: 'the test sees the leader key' });
    },
  });
});

after(async () => {
  stopWatch.abort();
  await lab?.stop();
});

function portOf(name: string): number {
  return lab.cluster.nodes.find((n) => n.name === name)!.pgPort;
}

/** The router's own account: leader key change seen → applied by every target (its "routed" log line). */
function routedLines(to: string, since: number): Array<{ applyMs: number; writable: boolean }> {
  return lab.group
    .logTail('router', 400)
    .split('\n')
    .flatMap((line) => {
      try {
        return [
          JSON.parse(line) as {
            time: number;
            to?: string;
            applyMs?: number;
            writable?: boolean;
            cluster?: string;
          },
        ];
      } catch {
        return [];
      }
    })
    .filter((l) => l.cluster === 'app' && l.to === to && typeof l.applyMs === 'number' && l.time >= since)
    .map((l) => ({ applyMs: l.applyMs as number, writable: l.writable === true }));
}

test('the router follows a Patroni cluster on etcd v2: writes reach the leader', async () => {
  const status = await routerStatus(lab.router.api);
  assert.equal(status.clusters.app?.leader, holderNow());
  const result = await new Writer(lab.primaryPort, PATRONI_SUPERUSER.password).start();
  await new Promise((r) => setTimeout(r, 500));
  const done = await result.stop();
  assert.ok(done.acks.length > 10, `writes succeed through HAProxy (errors: ${[...done.errors]})`);
  assert.ok(done.acks.every((a) => a.port === portOf(holderNow()!)));
});

test('through 5 patronictl switchovers on etcd v2, writes reach only the key holder and the route lag is reported', async () => {
  const applyLags: number[] = [];
  const keyToWrite: number[] = [];
  const writableAtKey: boolean[] = [];
  const promotedToWrite: number[] = [];
  for (let i = 0; i < 5; i++) {
    await lab.cluster.waitForHealthy();
    await waitApplied(lab.router.api, 15_000);
    const writer = new Writer(lab.primaryPort, PATRONI_SUPERUSER.password).start();
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const next = await lab.cluster.switchover();
    await waitFor(async () => (await routerStatus(lab.router.api)).clusters.app?.writable === true, {
      what: `router routes writes to ${next}`,
      timeoutMs: 20_000,
    });
    await new Promise((r) => setTimeout(r, 1500));
    const result = await writer.stop();
    assert.equal(result.acks.at(-1)?.port, portOf(next), 'the last writes landed on the new primary');
    assert.deepEqual(acksFromNonHolders(result.acks, spans, lab.portToName), []);
    assert.equal(result.readOnlyErrors, 0, 'no write was sent to a read-only node');
    const routed = routedLines(next, t0);
    assert.ok(routed.length > 0, `router logged routing to ${next}: ${lab.group.logTail('router', 20)}`);
    applyLags.push(routed[0]!.applyMs);
    writableAtKey.push(routed[0]!.writable);
    const keyAt = spans.find((s) => s.name === next && s.from >= t0)?.from;
    const firstAck = result.acks.find(
      (a) => a.port === portOf(next) && keyAt !== undefined && a.sentAt >= keyAt,
    );
    if (keyAt !== undefined && firstAck) keyToWrite.push(firstAck.ackAt - keyAt);
    const promotedAt = promotions.find((p) => p.name === next && p.at >= t0)?.at;
    const firstAfterPromotion = result.acks.find(
      (a) => a.port === portOf(next) && promotedAt !== undefined && a.sentAt >= promotedAt - 10,
    );
    if (promotedAt !== undefined && firstAfterPromotion)
      promotedToWrite.push(firstAfterPromotion.ackAt - promotedAt);
  }
  const fmt = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return `median ${s[Math.floor((s.length - 1) / 2)]} ms, max ${s.at(-1)} ms, n ${s.length} [${xs.join(', ')}]`;
  };
  console.log(
    `Patroni on etcd v2, route lag (leader key seen by the router → applied by HAProxy): ${fmt(applyLags)}; new leader already writable then: ${writableAtKey.join(', ')}`,
  );
  console.log(
    `Patroni on etcd v2, leader key changed (test's watch) → first write acknowledged by the new primary through HAProxy: ${fmt(keyToWrite)}`,
  );
  console.log(
    `Patroni on etcd v2, new leader's member key shows role master (test's watch) → first write acknowledged by it through HAProxy: ${fmt(promotedToWrite)}`,
  );
});
