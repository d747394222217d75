// The VIP target across network namespaces: three database hosts and a client on one bridge, etcd in
// the bridge namespace, one real router per host. Leadership is written exactly as Patroni writes it
// (a lease per member, member keys on it, the leader key by create-only transaction, released by a
// VALUE==name transaction). A sampler reads every host's local routes every 10 ms: at no sample may two
// hosts hold the VIP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Etcd3 } from 'etcd3';
import { createLab, holdsAddress, type Lab, type LabNode } from '../../harness/netns.js';
import { sleep, waitFor } from '../../harness/wait.js';
import {
  PatroniMember,
  HoldSampler,
  clientNeighbour,
  clientConnect,
  routerStatus,
  prepareVipHosts,
} from './vip.lab.js';

const isRoot = process.getuid?.() === 0;
const SCOPE = 'vipdemo';
const TTL = 8;
const SUBNET = '10.213.7';
const VIP = `${SUBNET}.100`;
const PORT = 5432;

describe('vip target in network namespaces', { skip: isRoot ? false : 'needs root for ip netns' }, () => {
  let lab: Lab;
  let etcd: Etcd3;
  let sampler: HoldSampler;
  const members = new Map<string, PatroniMember>();
  const routers = new Map<string, ChildProcess>();
  let leader = 'h1';

  const host = (name: string) => lab.hosts.find((h) => h.ns.endsWith(`-${name}`)) as LabNode;
  const names = () => lab.hosts.map((h) => h.ns.slice(h.ns.lastIndexOf('-') + 1));

  function startRouter(name: string): ChildProcess {
    const child = lab.spawnIn(
      host(name).ns,
      process.execPath,
      ['--import', 'tsx', 'src/cli/run.ts', 'route', '--config', join(lab.dir, `${name}.yml`)],
      {
        log: join(lab.dir, `${name}.log`),
      },
    );
    routers.set(name, child);
    return child;
  }

  async function moveLeader(to: string): Promise<void> {
    const from = members.get(leader);
    await from?.release();
    await sleep(50); // Patroni's new leader acquires on its next HA cycle, woken by the delete event
    assert.equal(await members.get(to)?.acquire(), true, `${to} acquires the leader key`);
    leader = to;
  }

  async function expectHolder(name: string | null, timeoutMs = 2000): Promise<void> {
    await waitFor(
      () => JSON.stringify(sampler.holdersNow()) === JSON.stringify(name === null ? [] : [name]),
      {
        what: `holder of ${VIP} to be ${name ?? 'nobody'}`,
        timeoutMs,
        intervalMs: 5,
        diagnose: () => `holders: ${JSON.stringify(sampler.holdersNow())}`,
      },
    );
  }

  async function expectAnnounced(name: string, timeoutMs = 1000): Promise<void> {
    const mac = host(name).mac;
    await waitFor(async () => (await clientNeighbour(lab, VIP)) === mac, {
      what: `client's neighbour entry for ${VIP} to hold ${name}'s MAC ${mac}`,
      timeoutMs,
      intervalMs: 10,
      diagnose: async () => `neighbour: ${await clientNeighbour(lab, VIP)}`,
    });
  }

  async function expectConnected(name: string, timeoutMs = 60_000): Promise<number> {
    const started = Date.now();
    await waitFor(async () => (await routerStatus(lab, host(name).ns)).dcs.connected, {
      what: `router on ${name} to reach etcd`,
      timeoutMs,
      intervalMs: 100,
    });
    return Date.now() - started;
  }

  before(async () => {
    lab = await createLab({ prefix: 'syvip', hostCount: 3, subnet: SUBNET });
    etcd = new Etcd3({ hosts: `http://${lab.etcdLocal}` });
    const prepared = await prepareVipHosts(lab, etcd, {
      scope: SCOPE,
      subnet: SUBNET,
      names: names(),
      patroni: { ttl: TTL, loop_wait: 1, retry_timeout: 2 },
      config: (name) => ({
        dcs: { request_timeout_ms: 500, check_interval_ms: 250 },
        router: { api: { listen: '127.0.0.1:8009' }, log: { level: 'debug' } },
        vip: {
          address: `${VIP}/24`,
          interface: 'eth0',
          member: name,
          label: 'eth0:vip',
          startup_grace_ms: 10000, // a restarted router on a busy machine may need > 3 s to read etcd
          // h3 announces with arping, the others with the resident helper: both senders face the client
          ...(name === 'h3' ? { announce: { sender: 'arping' } } : {}),
        },
      }),
      serve: (h, name) =>
        lab.spawnIn(h.ns, 'socat', [`TCP-LISTEN:${PORT},fork,reuseaddr`, `SYSTEM:echo ${name}`]),
    });
    for (const [name, member] of prepared) members.set(name, member);
    sampler = new HoldSampler(
      lab.hosts.map((h) => ({ name: h.ns.slice(h.ns.lastIndexOf('-') + 1), pid: h.anchorPid })),
      VIP,
    );
    sampler.start();
    assert.equal(await members.get('h1')?.acquire(), true);
    for (const name of names()) startRouter(name);
    await expectHolder('h1', 60_000); // three routers start at once: slow on a busy 2-core machine
    // the client learns the VIP's MAC once, like an application server that has talked to it
    assert.equal(await clientConnect(lab, VIP, PORT), 'h1');
  });

  after(async () => {
    sampler?.stop();
    for (const child of routers.values()) if (child.exitCode === null) child.kill('SIGTERM');
    await sleep(500);
    for (const m of members.values()) await m.close().catch(() => undefined);
    etcd?.close();
    await lab?.destroy();
  });

  /** The client's neighbour entry for the VIP points at a wrong MAC: only an announcement corrects it. */
  const staleClientNeighbour = () =>
    lab.run(lab.client.ns, 'ip', [
      'neigh',
      'replace',
      VIP,
      'lladdr',
      '02:00:00:00:00:99',
      'dev',
      'eth0',
      'nud',
      'stale',
    ]);

  test('follows 20 leader changes: announced to the client, TCP reaches the new host, never two holders', async () => {
    const order = ['h2', 'h3', 'h1'];
    sampler.resetWindow();
    for (let i = 0; i < 20; i++) {
      const to = order[i % 3] as string;
      await moveLeader(to);
      await expectHolder(to);
      await expectAnnounced(to);
      assert.equal(
        await clientConnect(lab, VIP, PORT),
        to,
        `TCP to ${VIP}:${PORT} reaches ${to} (change ${i + 1})`,
      );
    }
    assert.deepEqual(sampler.doubleHolds(), [], 'no sample with two holders');
    const senders = await Promise.all(
      names().map(async (n) => (await routerStatus(lab, host(n).ns)).targets.vip?.arp_sender),
    );
    assert.deepEqual(senders, ['python', 'python', 'arping']);
    assert.ok(sampler.windowSamples() > 100, `sampled ${sampler.windowSamples()} times`);
  });

  test('the leader key overwritten in one write (no delete between) moves the VIP with never two holders', async () => {
    // both routers see the same event at the same moment: the new one must wait for the old one's drop
    const order = ['h2', 'h1', 'h3'];
    const both: string[] = [];
    for (let i = 0; i < 9; i++) {
      const from = leader;
      const to = order[i % 3] as string;
      const t0 = Date.now();
      await members.get(to)?.overwrite();
      leader = to;
      // poll the old and the new host every ~1 ms until only the new one holds it: never both at once
      for (let polls = 0; polls < 5000 && Date.now() - t0 < 5000; polls++) {
        const oldHolds = holdsAddress(host(from).anchorPid, VIP);
        const newHolds = holdsAddress(host(to).anchorPid, VIP);
        if (oldHolds && newHolds) both.push(`${from}→${to} at ${Date.now() - t0} ms`);
        if (newHolds && !oldHolds) break;
        await sleep(1);
      }
      await expectHolder(to);
      await expectAnnounced(to);
      assert.equal(await clientConnect(lab, VIP, PORT), to, `TCP reaches ${to} (change ${i + 1})`);
    }
    assert.deepEqual(both, [], 'no poll saw the VIP on the old and the new host at once');
  });

  test('an external ip addr del is repaired and re-announced within 1 s', async () => {
    const h = host(leader);
    staleClientNeighbour();
    const removedAt = Date.now();
    lab.run(h.ns, 'ip', ['addr', 'del', `${VIP}/24`, 'dev', 'eth0']);
    await waitFor(() => holdsAddress(h.anchorPid, VIP), {
      what: 'VIP re-added',
      timeoutMs: 1000,
      intervalMs: 5,
    });
    await expectAnnounced(leader, 1000 - (Date.now() - removedAt));
    assert.ok(Date.now() - removedAt < 1000, `repaired and announced in ${Date.now() - removedAt} ms`);
    assert.equal(await clientConnect(lab, VIP, PORT), leader);
  });

  test('SIGTERM releases the VIP; SIGKILL keeps it until the restarted router adopts it; never two holders', async () => {
    sampler.resetWindow();
    const old = leader;
    const child = routers.get(old) as ChildProcess;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, 'router exits 0 on SIGTERM');
    await expectHolder(null, 100);
    const next = names().find((n) => n !== old) as string;
    await moveLeader(next);
    await expectHolder(next);
    await expectAnnounced(next);
    startRouter(old);
    await sleep(3000);
    await expectHolder(next, 10);

    sampler.resetWindow();

    const killed = routers.get(next) as ChildProcess;
    const gone = new Promise((resolve) => killed.once('exit', resolve));
    killed.kill('SIGKILL');
    await gone;
    await expectHolder(next, 10); // SIGKILL cannot release; leadership did not move, so this is right
    startRouter(next);
    await waitFor(() => /found .* already on eth0, kept it/.test(lab.readLog(`${next}.log`)), {
      what: 'restarted router to adopt the VIP',
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    await expectHolder(next, 10);
    assert.deepEqual(sampler.doubleHolds(), []);
    assert.deepEqual(sampler.gaps(), [], 'the restarted leader never dropped the VIP');
  });

  test('a stale VIP left on a non-leader is removed when its router starts', async () => {
    const stale = names().find((n) => n !== leader) as string;
    const child = routers.get(stale) as ChildProcess;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    sampler.pause(); // the stale copy below is the injected fault: two holders until its router removes it
    lab.run(host(stale).ns, 'ip', ['addr', 'add', `${VIP}/24`, 'dev', 'eth0']);
    startRouter(stale);
    await waitFor(() => !holdsAddress(host(stale).anchorPid, VIP), {
      what: 'stale VIP removed',
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    sampler.resume();
    await expectHolder(leader, 10);
    await waitFor(
      () =>
        /removed a stale 10\.213\.7\.100\/24 from eth0: the leader key of vipdemo names/.test(
          lab.readLog(`${stale}.log`),
        ),
      {
        what: 'the removal sentence in the log',
        timeoutMs: 2000,
      },
    );
  });

  test('link down/up on the leader keeps one holder and re-announces when the link returns', async (t) => {
    for (const name of names()) await expectConnected(name);
    sampler.resetWindow();
    const h = host(leader);
    lab.run(h.ns, 'ip', ['link', 'set', 'eth0', 'down']);
    staleClientNeighbour();
    await sleep(1500);
    await expectHolder(leader, 10);
    lab.run(h.ns, 'ip', ['link', 'set', 'eth0', 'up']);
    await expectAnnounced(leader, 2000);
    assert.equal(await clientConnect(lab, VIP, PORT), leader);
    const reconnectMs = await expectConnected(leader);
    t.diagnostic(`router on ${leader} reached etcd again ${reconnectMs} ms after the link came up`);
    await expectHolder(leader, 10);
    assert.deepEqual(sampler.doubleHolds(), []);
    assert.deepEqual(sampler.gaps(), [], 'the VIP stayed on the leader');
  });

  test('a DCS outage longer than ttl: the leader keeps the VIP for ttl, then drops it; it returns with etcd', async () => {
    for (const name of names()) await expectConnected(name);
    sampler.resetWindow();
    const stoppedAt = Date.now();
    lab.etcd.kill('SIGSTOP');
    try {
      await sleep((TTL - 3) * 1000);
      await expectHolder(leader, 10);
      const during = await routerStatus(lab, host(leader).ns);
      assert.equal(during.dcs.connected, false);
      assert.equal(during.targets.vip?.dcs_state, 'unreachable-within-ttl');
      assert.match(
        during.targets.vip?.reason ?? '',
        /^etcd unreachable for [\d.]+ s; keeping the VIP while leadership can still be valid \(ttl 8 s\)$/,
      );
      await expectHolder(null, 6000);
      const droppedAfter = Date.now() - stoppedAt;
      assert.ok(
        droppedAfter >= (TTL - 1) * 1000 && droppedAfter <= (TTL + 2) * 1000,
        `dropped after ${droppedAfter} ms (ttl ${TTL} s)`,
      );
      const after = await routerStatus(lab, host(leader).ns);
      assert.deepEqual(
        [after.targets.vip?.is_held, after.targets.vip?.dcs_state],
        [false, 'unreachable-expired'],
      );
      await sleep(1000);
      await expectHolder(null, 10);
    } finally {
      lab.etcd.kill('SIGCONT');
    }
    // the members' leases expired during the outage, as Patroni's would: everyone registers again
    for (const m of members.values()) await m.register();
    await members.get(leader)?.acquire();
    await expectHolder(leader, 10_000);
    await expectAnnounced(leader);
    assert.equal(await clientConnect(lab, VIP, PORT), leader);
    assert.deepEqual(sampler.doubleHolds(), []);
  });

  test('the duplicate probe keeps a new leader from taking an address another host still answers for', async () => {
    const [probing, stale] = names().filter((n) => n !== leader) as [string, string];
    for (const name of [probing, stale]) {
      const child = routers.get(name) as ChildProcess;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill(name === stale ? 'SIGKILL' : 'SIGTERM');
      await gone;
    }
    const config = lab
      .readLog(`${probing}.yml`)
      .replace('    label: eth0:vip\n', '    label: eth0:vip\n    duplicate_probe:\n      enabled: true\n');
    writeFileSync(join(lab.dir, `${probing}.yml`), config);
    startRouter(probing);
    await expectConnected(probing);
    sampler.pause(); // the injected fault: a second host answering for the VIP
    lab.run(host(stale).ns, 'ip', ['addr', 'add', `${VIP}/24`, 'dev', 'eth0']);
    await moveLeader(probing);
    await sleep(1500);
    assert.equal(
      holdsAddress(host(probing).anchorPid, VIP),
      false,
      `${probing} did not take an address ${stale} answers for`,
    );
    const waiting = await routerStatus(lab, host(probing).ns);
    assert.match(
      waiting.targets.vip?.last_summary ?? '',
      new RegExp(`^waiting to take ${VIP.replace(/\./g, '\\.')}/24: .* answers ARP from ${host(stale).mac}`),
    );
    assert.ok((waiting.targets.vip?.counters['duplicate_conflicts'] ?? 0) >= 1);
    lab.run(host(stale).ns, 'ip', ['addr', 'del', `${VIP}/24`, 'dev', 'eth0']);
    await expectHolder(probing, 3000);
    sampler.resume();
    await expectAnnounced(probing);
    assert.equal(await clientConnect(lab, VIP, PORT), probing);
    startRouter(stale);
    await expectConnected(stale);
    await expectHolder(probing, 10);
  });

  test('every sample of the whole run had at most one holder', () => {
    assert.deepEqual(sampler.allDoubleHolds(), []);
    assert.ok(sampler.totalSamples() > 1000, `${sampler.totalSamples()} samples`);
  });
});
