// The VIP target with an IPv6 address: added with nodad, announced by unsolicited neighbour
// advertisements (ndptool), followed by a client across leader changes. Two hosts, a client, etcd, one
// real router per host; leadership written as Patroni writes it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { createLab, type Lab, type LabNode } from '../../harness/netns.js';
import { sleep, waitFor } from '../../harness/wait.js';
import { PatroniMember, HoldSampler, clientNeighbour, clientConnect, prepareVipHosts } from './vip.lab.js';

const isRoot = process.getuid?.() === 0;
const SCOPE = 'vip6demo';
const SUBNET = '10.213.8';
const SUBNET6 = 'fd77:213:8';
const VIP = `${SUBNET6}::100`;
const PORT = 5432;

describe('vip target with an IPv6 address', { skip: isRoot ? false : 'needs root for ip netns' }, () => {
  let lab: Lab;
  let etcd: Etcd3;
  let sampler: HoldSampler;
  const members = new Map<string, PatroniMember>();
  const host = (name: string) => lab.hosts.find((h) => h.ns.endsWith(`-${name}`)) as LabNode;

  before(async () => {
    lab = await createLab({ prefix: 'syvip6', hostCount: 2, subnet: SUBNET, subnet6: SUBNET6 });
    etcd = new Etcd3({ hosts: `http://${lab.etcdLocal}` });
    const prepared = await prepareVipHosts(lab, etcd, {
      scope: SCOPE,
      subnet: SUBNET,
      names: ['h1', 'h2'],
      patroni: { ttl: 10, loop_wait: 1, retry_timeout: 2 },
      config: (name) => ({ vip: { address: `${VIP}/64`, interface: 'eth0', member: name } }),
      serve: (h, name) =>
        lab.spawnIn(h.ns, 'socat', [`TCP6-LISTEN:${PORT},fork,reuseaddr`, `SYSTEM:echo ${name}`]),
    });
    for (const [name, member] of prepared) members.set(name, member);
    sampler = new HoldSampler(
      ['h1', 'h2'].map((name) => ({ name, pid: host(name).anchorPid })),
      VIP,
    );
    sampler.start();
    assert.equal(await members.get('h1')?.acquire(), true);
    for (const name of ['h1', 'h2']) {
      lab.spawnIn(
        host(name).ns,
        process.execPath,
        ['--import', 'tsx', 'src/cli/run.ts', 'route', '--config', join(lab.dir, `${name}.yml`)],
        {
          log: join(lab.dir, `${name}.log`),
        },
      );
    }
    await waitFor(() => JSON.stringify(sampler.holdersNow()) === '["h1"]', {
      what: 'h1 to hold the VIP',
      timeoutMs: 60_000, // routers start slowly on a busy machine
      intervalMs: 20,
    });
    assert.equal(await clientConnect(lab, VIP, PORT), 'h1');
  });

  after(async () => {
    sampler?.stop();
    for (const m of members.values()) await m.close().catch(() => undefined);
    etcd?.close();
    await lab?.destroy();
  });

  test('each leader change is announced by unsolicited NA and TCP over IPv6 reaches the new host', async () => {
    sampler.resetWindow();
    let leader = 'h1';
    for (let i = 0; i < 6; i++) {
      const to = leader === 'h1' ? 'h2' : 'h1';
      await members.get(leader)?.release();
      await sleep(50);
      assert.equal(await members.get(to)?.acquire(), true);
      leader = to;
      await waitFor(() => JSON.stringify(sampler.holdersNow()) === JSON.stringify([to]), {
        what: `${to} to hold ${VIP}`,
        timeoutMs: 2000,
        intervalMs: 5,
      });
      const mac = host(to).mac;
      await waitFor(async () => (await clientNeighbour(lab, VIP)) === mac, {
        what: `client's neighbour entry for ${VIP} to hold ${to}'s MAC ${mac}`,
        timeoutMs: 1000,
        intervalMs: 10,
        diagnose: async () => `neighbour: ${await clientNeighbour(lab, VIP)}`,
      });
      assert.equal(await clientConnect(lab, VIP, PORT), to);
    }
    assert.deepEqual(sampler.doubleHolds(), []);
  });

  test('the IPv6 VIP is added with nodad: never tentative, never dadfailed', () => {
    const leaderNs = lab.hosts.find((h) =>
      sampler.holdersNow().includes(h.ns.slice(h.ns.lastIndexOf('-') + 1)),
    )?.ns as string;
    const info = JSON.parse(lab.run(leaderNs, 'ip', ['-j', '-6', 'addr', 'show', 'dev', 'eth0'])) as Array<{
      addr_info: Array<{ local: string; tentative?: boolean; dadfailed?: boolean; prefixlen: number }>;
    }>;
    const vip = info[0]?.addr_info.find((a) => a.local === VIP);
    assert.deepEqual(vip && [vip.prefixlen, vip.tentative ?? false, vip.dadfailed ?? false], [
      64,
      false,
      false,
    ]);
  });
});
