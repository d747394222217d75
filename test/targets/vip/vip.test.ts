import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/log.js';
import { VipTarget } from '../../../src/targets/vip/index.js';
import { vipConfigSchema, type VipConfigInput } from '../../../src/targets/vip/config.js';
import type { Exec, ExecResult } from '../../../src/targets/vip/exec.js';
import type { RouteView } from '../../../src/route/view.js';
import { vipView } from './views.js';
import type { RouteSnapshot } from '../../../src/targets/types.js';
import type { RawArpSender } from '../../../src/targets/vip/rawsender.js';
import { detachedVips, releaseDetachedSync } from '../../../src/targets/vip/orphans.js';
import { waitFor } from '../../harness/wait.js';

/** A fake host: `ip` keeps a set of addresses, `arping` prints Habets' statistics; every call is counted. */
class FakeHost {
  readonly addresses = new Set<string>(['10.0.0.1/24']);
  isUp = true;
  linkType = 'ether';
  mac = '02:00:00:00:00:01';
  arpingError: string | null = null;
  probeAnswerMac: string | null = null;
  readonly calls: string[][] = [];

  readonly exec: Exec = async (file, args): Promise<ExecResult> => {
    this.calls.push([file, ...args]);
    const ok = (stdout = ''): ExecResult => ({ exitCode: 0, stdout, stderr: '', timedOut: false });
    const fail = (exitCode: number, stderr: string, stdout = ''): ExecResult => ({
      exitCode,
      stdout,
      stderr,
      timedOut: false,
    });
    if (file === 'ip' && args[0] === '-j') {
      const addr_info = [...this.addresses].map((a) => {
        const [local, prefixlen] = a.split('/');
        return { family: local?.includes(':') ? 'inet6' : 'inet', local, prefixlen: Number(prefixlen) };
      });
      const flags = this.isUp ? ['UP', 'LOWER_UP'] : [];
      return ok(
        JSON.stringify([{ ifname: 'eth0', flags, link_type: this.linkType, address: this.mac, addr_info }]),
      );
    }
    if (file === 'ip' && args[1] === 'add') {
      if (this.addresses.has(args[2] as string)) return fail(2, 'Error: ipv4: Address already assigned.');
      this.addresses.add(args[2] as string);
      return ok();
    }
    if (file === 'ip' && args[1] === 'del') {
      if (!this.addresses.delete(args[2] as string)) return fail(2, 'Error: ipv4: Address not found.');
      return ok();
    }
    if (file === 'arping' && (args[0] === '-V' || args[0] === '--help'))
      return fail(1, '', 'ARPing 2.23, by Thomas Habets <thomas@habets.se>');
    if (file === 'arping' && args[0] === '-0') {
      return this.probeAnswerMac
        ? ok(`42 bytes from ${this.probeAnswerMac} (10.0.0.100): index=0\n`)
        : fail(1, '', 'Timeout\n');
    }
    if (file === 'arping') {
      if (this.arpingError) return fail(1, this.arpingError);
      const count = args[args.indexOf('-c') + 1];
      return fail(1, '', `--- statistics ---\n${count} packets transmitted, 0 packets received\n`);
    }
    return fail(127, `unexpected ${file} ${args.join(' ')}`);
  };

  count(predicate: (call: string[]) => boolean): number {
    return this.calls.filter(predicate).length;
  }
}

const isAdd = (c: string[]) => (c[0] === 'ip' || c[0] === 'netlink') && c[2] === 'add';
const isDel = (c: string[]) => (c[0] === 'ip' || c[0] === 'netlink') && c[2] === 'del';
const isGarp = (c: string[]) => c[0] === 'arping' && c[1] === '-U';

function view(leader: string | null, revision = 7, ttl = 30): RouteView {
  return vipView(leader, { revision, ttl });
}

function snapshot(
  leader: string | null,
  dcs = { isConnected: true, lastContactAt: 0 },
  revision = 7,
): RouteSnapshot {
  return { generation: 1, views: new Map([['app', view(leader, revision)]]), dcs };
}

/** The VIP config of the unit tests: 10.0.0.100/24 on eth0 for pg1 of app, no repeat burst, slow checks. */
function testConfig(overrides: Partial<VipConfigInput>) {
  return vipConfigSchema.parse({
    address: '10.0.0.100/24',
    interface: 'eth0',
    member: 'pg1',
    cluster: 'app',
    announce: { repeat_count: 0 },
    check_interval_ms: 10_000,
    ...overrides,
  });
}

function makeTarget(host: FakeHost, overrides: Partial<VipConfigInput> = {}, now: () => number = Date.now) {
  const config = testConfig(overrides);
  const target = new VipTarget(
    config,
    'app',
    { log: silentLogger(), now },
    { exec: host.exec, hasExitHook: false, createRawSender: () => null },
  );
  void target.start();
  return target;
}

/** Waits (bounded) for `cond`, polling every `intervalMs`. */
const until = (what: string, cond: () => boolean, timeoutMs = 1000, intervalMs = 5) =>
  waitFor(cond, { what, timeoutMs, intervalMs });

/** Runs `fn` on `target`, closing the target afterwards whatever happens. */
async function withTarget<T extends { close(): Promise<void> }>(target: T, fn: (target: T) => Promise<void>) {
  try {
    await fn(target);
  } finally {
    await target.close();
  }
}

test('takes the VIP when the leader key names this member, and announces it', async () => {
  const host = new FakeHost();
  await withTarget(makeTarget(host), async (target) => {
    const result = await target.apply(snapshot('pg1'));
    assert.equal(
      result.summary,
      'took 10.0.0.100/24 on eth0 and announced it (5 ARP requests + 5 ARP replies): the leader key of app names pg1',
    );
    assert.equal(result.didChange, true);
    assert.ok(host.addresses.has('10.0.0.100/24'));
    assert.equal(host.count(isGarp), 2);
    const again = await target.apply(snapshot('pg1'));
    assert.deepEqual(
      [again.didChange, again.summary],
      [false, 'holding 10.0.0.100/24 on eth0: the leader key of app names pg1'],
    );
    assert.equal(host.count(isAdd), 1);
  });
});

test('once the link is known, a take runs `ip addr add` without querying first, and a release only `ip addr del`', async () => {
  const host = new FakeHost();
  await withTarget(makeTarget(host), async (target) => {
    await waitFor(() => host.calls.length > 0, { what: 'the first check', timeoutMs: 1000, intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 10));
    const before = host.calls.length;
    await target.apply(snapshot('pg1'));
    assert.deepEqual(
      host.calls.slice(before).filter((c) => c[0] === 'ip'),
      [['ip', 'addr', 'add', '10.0.0.100/24', 'dev', 'eth0']],
    );
    const mid = host.calls.length;
    await target.apply(snapshot('pg2'));
    assert.deepEqual(
      host.calls.slice(mid).filter((c) => c[0] === 'ip'),
      [['ip', 'addr', 'del', '10.0.0.100/24', 'dev', 'eth0']],
    );
  });
});

test('releases the VIP as soon as the leader key names another member or disappears', async () => {
  const host = new FakeHost();
  await withTarget(makeTarget(host), async (target) => {
    await target.apply(snapshot('pg1'));
    const moved = await target.apply(snapshot('pg2'));
    assert.equal(moved.summary, 'released 10.0.0.100/24 from eth0: the leader key of app names pg2, not pg1');
    assert.ok(!host.addresses.has('10.0.0.100/24'));
    await target.apply(snapshot('pg1', undefined, 9));
    const gone = await target.apply(snapshot(null));
    assert.equal(
      gone.summary,
      'released 10.0.0.100/24 from eth0: cluster app has no leader (no leader key, or its holder has no member key)',
    );
    assert.deepEqual(target.status().counters, {
      takes: 2,
      releases: 2,
      repairs: 0,
      announcements: 2,
      announceFailures: 0,
      framesSent: 20,
      duplicateConflicts: 0,
      handoverProbes: 2,
      handoverTimeouts: 0,
      errors: 0,
    });
  });
});

/** A target that finds the VIP on eth0 at start applies a view whose leader key names `leader`. */
async function applyOverFoundVip(leader: string, check: (summary: string, host: FakeHost) => void) {
  const host = new FakeHost();
  host.addresses.add('10.0.0.100/24');
  await withTarget(makeTarget(host), async (target) =>
    check((await target.apply(snapshot(leader))).summary, host),
  );
}

test('removes a stale VIP found at start when this member is not the leader', async () => {
  await applyOverFoundVip('pg2', (summary, host) => {
    assert.equal(
      summary,
      'removed a stale 10.0.0.100/24 from eth0: the leader key of app names pg2, not pg1',
    );
    assert.ok(!host.addresses.has('10.0.0.100/24'));
  });
});

test('keeps a VIP found at start on the leader and announces it again', async () => {
  await applyOverFoundVip('pg1', (summary, host) => {
    assert.equal(
      summary,
      'found 10.0.0.100/24 already on eth0, kept it; announced 10.0.0.100/24 on eth0 (5 ARP requests + 5 ARP replies): the leader key of app names pg1',
    );
    assert.equal(host.count(isDel), 0);
  });
});

test('without any view, a VIP found at start is removed once the startup grace ends', async () => {
  const host = new FakeHost();
  host.addresses.add('10.0.0.100/24');
  await withTarget(makeTarget(host, { startup_grace_ms: 100, check_interval_ms: 50 }), async (target) => {
    await new Promise((r) => setTimeout(r, 60));
    assert.ok(host.addresses.has('10.0.0.100/24'), 'kept during the grace');
    await until('stale VIP removed', () => !host.addresses.has('10.0.0.100/24'), 2000, 10);
    assert.equal(
      target.status().lastSummary,
      'removed a stale 10.0.0.100/24 from eth0: etcd has not been read yet',
    );
  });
});

test('repairs and re-announces a VIP that something else removed, within one check interval', async () => {
  const host = new FakeHost();
  await withTarget(makeTarget(host, { check_interval_ms: 50 }), async (target) => {
    await target.apply(snapshot('pg1'));
    host.addresses.delete('10.0.0.100/24');
    const removedAt = Date.now();
    await until('VIP re-added', () => host.addresses.has('10.0.0.100/24'), 2000);
    assert.ok(Date.now() - removedAt < 1000);
    await until('repair counted', () => target.status().counters.repairs === 1);
    assert.equal(
      target.status().lastSummary,
      're-added 10.0.0.100/24 on eth0 after something else removed it, and announced it (5 ARP requests + 5 ARP replies)',
    );
    assert.equal(host.count(isGarp), 4);
  });
});

test('re-announces when the link comes back up', async () => {
  const host = new FakeHost();
  await withTarget(makeTarget(host), async (target) => {
    await target.apply(snapshot('pg1'));
    host.isUp = false;
    assert.equal((await target.apply(snapshot('pg1'))).didChange, false);
    host.isUp = true;
    const result = await target.apply(snapshot('pg1'));
    assert.equal(
      result.summary,
      'eth0 came back up; announced 10.0.0.100/24 on eth0 (5 ARP requests + 5 ARP replies): the leader key of app names pg1',
    );
  });
});

test('a failed announcement is recorded and retried on the next cycle', async () => {
  const host = new FakeHost();
  host.arpingError = 'arping: libnet_init(LIBNET_LINK, eth0): libnet_check_iface(): eth0 is down';
  await withTarget(makeTarget(host), async (target) => {
    await target.apply(snapshot('pg1'));
    assert.ok(host.addresses.has('10.0.0.100/24'), 'the address stays: clients may still reach it');
    await until('failure counted', () => target.status().counters.announceFailures === 1);
    assert.match(
      target.status().lastError ?? '',
      /could not send gratuitous ARP requests for 10\.0\.0\.100 on eth0: .*eth0 is down/,
    );
    host.arpingError = null;
    const result = await target.apply(snapshot('pg1'));
    assert.equal(
      result.summary,
      'the last announcement failed; announced 10.0.0.100/24 on eth0 (5 ARP requests + 5 ARP replies): the leader key of app names pg1',
    );
    await until('announcement counted', () => target.status().counters.announcements === 1);
  });
});

test('a release stops an announcement in flight before removing the address', async () => {
  const host = new FakeHost();
  const slow = host.exec;
  const order: string[] = [];
  const exec: typeof slow = async (file, args, timeoutMs, signal) => {
    if (file === 'arping' && args[0] === '-U') {
      order.push('arping started');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()));
      });
      order.push(signal?.aborted ? 'arping killed' : 'arping finished');
      return { exitCode: -1, stdout: '', stderr: 'canceled', timedOut: false };
    }
    if (file === 'ip' && args[1] === 'del') order.push('ip addr del');
    return slow(file, args, timeoutMs, signal);
  };
  const config = vipConfigSchema.parse({
    address: '10.0.0.100/24',
    interface: 'eth0',
    member: 'pg1',
    announce: { repeat_count: 0 },
    check_interval_ms: 10_000,
  });
  const target = new VipTarget(
    config,
    'app',
    { log: silentLogger(), now: Date.now },
    { exec, hasExitHook: false, createRawSender: () => null },
  );
  await target.start();
  try {
    await target.apply(snapshot('pg1'));
    const started = Date.now();
    const released = await target.apply(snapshot('pg2'));
    assert.ok(Date.now() - started < 1000, 'the release did not wait for the burst');
    assert.equal(
      released.summary,
      'released 10.0.0.100/24 from eth0: the leader key of app names pg2, not pg1',
    );
    assert.deepEqual(order, [
      'arping started',
      'arping started',
      'arping killed',
      'arping killed',
      'ip addr del',
    ]);
    assert.equal(target.status().counters.announceFailures, 0, 'a killed burst is not a failure');
  } finally {
    await target.close();
  }
});

test('DCS loss with the ttl policy: keeps the VIP until ttl after the last read, then drops it (fake clock)', async () => {
  const host = new FakeHost();
  let now = 1_000_000;
  await withTarget(
    makeTarget(host, {}, () => now),
    async (target) => {
      await target.apply(snapshot('pg1', { isConnected: true, lastContactAt: now }));
      const lost = { isConnected: false, lastContactAt: now };
      // `ms` later, still no contact: what the target says and its DCS state
      for (const [ms, summary, dcsState] of [
        [
          29_000,
          'holding 10.0.0.100/24 on eth0: etcd unreachable for 29.0 s; keeping the VIP while leadership can still be valid (ttl 30 s)',
          'unreachable-within-ttl',
        ],
        [
          1_000,
          "released 10.0.0.100/24 from eth0: etcd unreachable for 30.0 s, longer than the cluster's ttl (30 s): leadership may have moved",
          'unreachable-expired',
        ],
      ] as const) {
        now += ms;
        assert.equal((await target.apply(snapshot('pg1', lost))).summary, summary);
        assert.equal(target.status().dcsState, dcsState);
      }
    },
  );
});

test('the duplicate probe makes the target wait while another host answers for the VIP', async () => {
  const host = new FakeHost();
  host.probeAnswerMac = '02:00:00:00:00:02';
  await withTarget(makeTarget(host, { duplicate_probe: { enabled: true } }), async (target) => {
    const waiting = await target.apply(snapshot('pg1'));
    assert.match(
      waiting.summary,
      /^waiting to take 10\.0\.0\.100\/24: 10\.0\.0\.100 answers ARP from 02:00:00:00:00:02/,
    );
    assert.equal(host.count(isAdd), 0);
    host.probeAnswerMac = null;
    assert.match((await target.apply(snapshot('pg1'))).summary, /^took 10\.0\.0\.100\/24/);
    assert.equal(target.status().counters.duplicateConflicts, 1);
  });
});

test('refuses loopback with the reason', async () => {
  const host = new FakeHost();
  host.linkType = 'loopback';
  host.mac = '00:00:00:00:00:00';
  await withTarget(makeTarget(host), async (target) => {
    await assert.rejects(target.apply(snapshot('pg1')), {
      code: 'SY_ERR_VIP',
      message:
        'cannot announce 10.0.0.100 on eth0: loopback has no MAC address (00:00:00:00:00:00) for gratuitous ARP; put the VIP on an Ethernet interface',
    });
    assert.equal(host.count(isAdd), 0);
  });
});

test('close() removes the VIP and stops checking', async () => {
  const host = new FakeHost();
  const target = makeTarget(host, { check_interval_ms: 50 });
  await target.apply(snapshot('pg1'));
  await target.close();
  assert.ok(!host.addresses.has('10.0.0.100/24'));
  assert.equal(target.status().lastSummary, 'released 10.0.0.100/24 from eth0 on shutdown');
  const calls = host.calls.length;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(host.calls.length, calls, 'no checks after close');
  await target.close();
});

test('the second burst follows after repeat_delay_ms, and not after a release', async () => {
  const host = new FakeHost();
  await withTarget(
    makeTarget(host, { announce: { repeat_count: 2, repeat_delay_ms: 50 } }),
    async (target) => {
      await target.apply(snapshot('pg1'));
      await waitFor(() => host.count(isGarp) === 4, { what: 'second burst', timeoutMs: 2000, intervalMs: 5 });
      const last = host.calls.filter(isGarp).at(-1) ?? [];
      assert.equal(last[last.indexOf('-c') + 1], '2');
      await target.apply(snapshot('pg1', undefined, 8));
      await target.apply(snapshot('pg2'));
      const garps = host.count(isGarp);
      await new Promise((r) => setTimeout(r, 120));
      assert.equal(host.count(isGarp), garps, 'released: no second burst');
    },
  );
});

test('detach() stops checking and leaves the VIP for the next target of a reload', async () => {
  const host = new FakeHost();
  const target = makeTarget(host, { check_interval_ms: 50 });
  await target.apply(snapshot('pg1'));
  await target.detach();
  assert.ok(host.addresses.has('10.0.0.100/24'));
  const calls = host.calls.length;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(host.calls.length, calls, 'no checks after detach');
  await withTarget(makeTarget(host), async (next) => {
    const adopted = await next.apply(snapshot('pg1'));
    assert.match(adopted.summary, /^found 10\.0\.0\.100\/24 already on eth0, kept it/);
    assert.equal(host.count(isDel), 0);
  });
});

/** A resident ARP helper stand-in: scripted probe answers, every probe and frame recorded with the host's calls. */
class FakeRawSender {
  starts = 0;
  readonly probes: number[] = [];
  constructor(
    private readonly host: FakeHost,
    private readonly answers: Array<string | null>,
  ) {}
  start(): Promise<void> {
    this.starts++;
    return Promise.resolve();
  }
  send(): Promise<number> {
    this.host.calls.push(['raw', 'garp']);
    return Promise.resolve(2);
  }
  probe(_address: string, windowMs: number): Promise<{ isInUse: boolean; otherMac: string | null }> {
    this.probes.push(windowMs);
    this.host.calls.push(['raw', 'probe']);
    const mac = this.answers.length > 0 ? this.answers.shift() : null;
    return Promise.resolve({ isInUse: mac !== null && mac !== undefined, otherMac: mac ?? null });
  }
  /** rtnetlink add/del: changes the fake host's addresses like `ip` would, answers an errno. */
  address(op: 'add' | 'del', address: string, prefixLength: number): Promise<number> {
    const cidr = `${address}/${prefixLength}`;
    this.host.calls.push(['netlink', 'addr', op, cidr]);
    if (op === 'add') {
      if (this.host.addresses.has(cidr)) return Promise.resolve(17);
      this.host.addresses.add(cidr);
      return Promise.resolve(0);
    }
    return Promise.resolve(this.host.addresses.delete(cidr) ? 0 : 99);
  }
  close(): void {}
}

function makeRawTarget(
  host: FakeHost,
  raw: FakeRawSender,
  overrides: Partial<VipConfigInput> = {},
  released: string[] = [],
) {
  const config = testConfig(overrides);
  return new VipTarget(
    config,
    'app',
    { log: silentLogger(), now: Date.now },
    {
      exec: host.exec,
      hasExitHook: false,
      createRawSender: () => raw as unknown as RawArpSender,
      releaseSync: (v) => released.push(`${v.iface} ${v.address.cidr}`),
    },
  );
}

const isProbe = (c: string[]) => c[0] === 'raw' && c[1] === 'probe';

test('creating a VIP target starts nothing; start() starts the ARP helper', async () => {
  const host = new FakeHost();
  const raw = new FakeRawSender(host, []);
  const target = makeRawTarget(host, raw);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(raw.starts, 0);
  assert.equal(host.calls.length, 0);
  await target.start();
  try {
    await waitFor(() => raw.starts > 0, { what: 'helper started', timeoutMs: 1000, intervalMs: 5 });
  } finally {
    await target.close();
  }
});

test('a take adds the VIP only once the previous holder stops answering ARP for it', async () => {
  const host = new FakeHost();
  const raw = new FakeRawSender(host, ['02:00:00:00:00:09', '02:00:00:00:00:09', '02:00:00:00:00:09']);
  await withTarget(makeRawTarget(host, raw), async (target) => {
    await target.start();
    const result = await target.apply(snapshot('pg1'));
    assert.match(result.summary, /^took 10\.0\.0\.100\/24/);
    const probes = host.calls.map((c, i) => [c, i] as const).filter(([c]) => isProbe(c));
    const add = host.calls.findIndex(isAdd);
    assert.equal(probes.length, 4, 'three answered probes, then one without an answer');
    assert.ok(add > (probes.at(-1)?.[1] ?? Infinity), 'ip addr add after the last probe');
    assert.deepEqual(raw.probes, [10, 10, 10, 10], 'handover.probe_ms (10) per probe');
    assert.equal(target.status().counters.handoverProbes, 4);
  });
});

test('a take goes ahead after handover.max_wait_ms when another host keeps answering, and counts it', async () => {
  const host = new FakeHost();
  const raw = new FakeRawSender(host, Array<string>(1000).fill('02:00:00:00:00:09'));
  await withTarget(makeRawTarget(host, raw, { handover: { max_wait_ms: 60 } }), async (target) => {
    await target.start();
    const started = Date.now();
    await target.apply(snapshot('pg1'));
    assert.ok(Date.now() - started < 1000);
    assert.ok(host.addresses.has('10.0.0.100/24'));
    assert.equal(target.status().counters.handoverTimeouts, 1);
    assert.ok(raw.probes.length <= Math.ceil(60 / 10) + 1, `bounded: ${raw.probes.length} probes`);
  });
});

test('a newer view that arrives while waiting for the previous holder cancels the take', async () => {
  const host = new FakeHost();
  const raw = new FakeRawSender(host, Array<string>(1000).fill('02:00:00:00:00:09'));
  await withTarget(makeRawTarget(host, raw, { handover: { max_wait_ms: 5000 } }), async (target) => {
    await target.start();
    const take = target.apply(snapshot('pg1'));
    await waitFor(() => raw.probes.length >= 2, { what: 'probing', timeoutMs: 1000, intervalMs: 1 });
    const moved = target.apply(snapshot('pg2'));
    const first = await take;
    assert.match(first.summary, /newer view arrived/);
    await moved;
    assert.equal(host.count(isAdd), 0, 'never added');
  });
});

test('close() on a host that never held the VIP removes nothing', async () => {
  const host = new FakeHost();
  const target = makeTarget(host);
  await target.apply(snapshot('pg2'));
  const before = host.count(isDel);
  await target.close();
  assert.equal(host.count(isDel), before, 'close ran no ip addr del');
});

test('the exit hook removes the VIP only when this router added it', async () => {
  const host = new FakeHost();
  const released: string[] = [];
  await withTarget(makeRawTarget(host, new FakeRawSender(host, []), {}, released), async (target) => {
    await target.start();
    target.exitNow();
    assert.deepEqual(released, [], 'nothing added yet');
    await target.apply(snapshot('pg1'));
    target.exitNow();
    assert.deepEqual(released, ['eth0 10.0.0.100/24']);
  });
});

test('a reload that changes vip.address removes the old address before the new one is taken', async () => {
  const host = new FakeHost();
  const old = makeTarget(host);
  await old.apply(snapshot('pg1'));
  await old.detach();
  assert.ok(host.addresses.has('10.0.0.100/24'), 'detached: left for the successor');
  const mark = host.calls.length;
  await withTarget(
    makeRawTarget(host, new FakeRawSender(host, []), { address: '10.0.0.200/24' }),
    async (next) => {
      await next.start();
      await next.apply(snapshot('pg1'));
      const calls = host.calls.slice(mark).filter((c) => c[1] === 'addr');
      assert.deepEqual(calls, [
        ['ip', 'addr', 'del', '10.0.0.100/24', 'dev', 'eth0'],
        ['netlink', 'addr', 'add', '10.0.0.200/24'],
      ]);
      assert.ok(!host.addresses.has('10.0.0.100/24'));
    },
  );
  assert.ok(!host.addresses.has('10.0.0.200/24'), 'close released the new address');
});

test('a reload that never starts a successor leaves the detached VIP to the exit path, which removes it', async () => {
  const host = new FakeHost();
  const old = makeTarget(host);
  await old.apply(snapshot('pg1'));
  await old.detach();
  assert.deepEqual(
    detachedVips().map((v) => v.address.cidr),
    ['10.0.0.100/24'],
  );
  const released: string[] = [];
  assert.equal(
    releaseDetachedSync((v) => released.push(`${v.iface} ${v.address.cidr}`)),
    1,
  );
  assert.deepEqual(released, ['eth0 10.0.0.100/24']);
  assert.deepEqual(detachedVips(), []);
});

test('a detached VIP this router never held is not handed on', async () => {
  const host = new FakeHost();
  const old = makeTarget(host);
  await old.apply(snapshot('pg2'));
  await old.detach();
  assert.deepEqual(detachedVips(), []);
});

test('with the helper running, the VIP is added and removed over rtnetlink, not by starting `ip`', async () => {
  const host = new FakeHost();
  await withTarget(makeRawTarget(host, new FakeRawSender(host, [])), async (target) => {
    await target.start();
    await target.apply(snapshot('pg1'));
    assert.ok(host.addresses.has('10.0.0.100/24'));
    await target.apply(snapshot('pg2'));
    assert.ok(!host.addresses.has('10.0.0.100/24'));
    assert.deepEqual(
      host.calls.filter((c) => c[1] === 'addr' && (c[2] === 'add' || c[2] === 'del')),
      [
        ['netlink', 'addr', 'add', '10.0.0.100/24'],
        ['netlink', 'addr', 'del', '10.0.0.100/24'],
      ],
    );
  });
});
