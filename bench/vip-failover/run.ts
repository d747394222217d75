// VIP failover, Switchyard vs vip-manager 1.0.2, side by side in one run.
//
//   node --import tsx bench/vip-failover/run.ts [--changes 20] [--mode overwrite|release] [--gap-ms 50]
//                                               [--out bench/vip-failover/results]
//
// Three database hosts and a client in network namespaces on one bridge, etcd (v3 + v2 API) in the
// bridge namespace. On every host run a Switchyard router (VIP .100, etcd v3, default configuration)
// and vip-manager 1.0.2 (VIP .101, etcd v2, `interval` 1000 ms). Every member key says running,
// role replica. A leader change is either `overwrite` (default: the leader key is overwritten in one
// write in both keyspaces, no delete between — the harder case) or `release` (the old leader deletes
// its key, `--gap-ms` later the new leader creates it). t0 = just before the write that names the new
// leader. Measured from outside, per system, by polling every host's and the client's kernel tables
// every ~1 ms: t0 → old host no longer holds the VIP, → new host holds it, → the client's ARP entry
// names the new host's MAC, → the client's first TCP connect answered by the new host (a prober in
// the client namespace opens a connection every 5 ms to each VIP); polls where both hosts held the VIP
// (overlap); and a 10 ms sampler of every host for two holders. The routers' own log times (key seen,
// VIP taken/released) are printed as a breakdown only. Prints Markdown; writes results.md/.json.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { Etcd3 } from 'etcd3';
import { createLab, holdsAddress, type Lab, type LabNode } from '../../test/harness/netns.js';
import { sleep } from '../../test/harness/wait.js';
import {
  HoldSampler,
  PatroniMember,
  arpEntry,
  clientNeighbour,
  prepareVipHosts,
} from '../../test/targets/vip/vip.lab.js';
import { percentile } from '../lib/stats.js';
import { buildRouter } from '../route-convergence/router.js';
import { ROOT } from '../../test/harness/router.js';

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: '20' },
    'gap-ms': { type: 'string', default: '50' },
    mode: { type: 'string', default: 'overwrite' },
    out: { type: 'string', default: 'bench/vip-failover/results' },
  },
});
const CHANGES = Number(values.changes);
const GAP_MS = Number(values['gap-ms']);
const MODE = values.mode === 'release' ? 'release' : 'overwrite';
const OUT = resolve(values.out as string);
const SCOPE = 'bench';
const SUBNET = '10.213.9';
const PORT = 5432;
const TTL = 30;
const SYSTEMS = [
  { key: 'switchyard', label: 'Switchyard', vip: `${SUBNET}.100` },
  { key: 'vip-manager', label: 'vip-manager 1.0.2 (etcd v2, interval 1000 ms)', vip: `${SUBNET}.101` },
] as const;
type SystemKey = (typeof SYSTEMS)[number]['key'];

/** Per system, ms after t0 (null = not within 5 s), from the 1 ms poll of kernel tables. */
interface Timeline {
  oldGoneMs: number | null;
  configuredMs: number | null;
  arpMs: number | null;
  /** Polls in which the old and the new host both held the VIP. */
  overlapPolls: number;
}

interface ChangeResult {
  readonly from: string;
  readonly to: string;
  readonly timeline: Record<SystemKey, Timeline>;
  /** The routers' own log times after t0 (breakdown only): new/old saw the key, took, released. */
  readonly logs: Record<string, number | null>;
  readonly configuredMs: Record<SystemKey, number | null>;
  readonly reachedMs: Record<SystemKey, number | null>;
  readonly neighbourIsNewHost: Record<SystemKey, boolean>;
  /** t0 → the new leader's router logged the leader change (its etcd watch delivered the key). */
  readonly routerSawMs: number | null;
  readonly t0: number;
}

const PROBER = `
const net = require('node:net');
const [port, ...vips] = process.argv.slice(1);
const last = {}, inflight = {};
setInterval(() => {
  for (const vip of vips) {
    if ((inflight[vip] || 0) >= 40) continue;
    inflight[vip] = (inflight[vip] || 0) + 1;
    const s = net.connect({ host: vip, port: Number(port) });
    let done = false;
    const timer = setTimeout(() => end(), 300);
    const end = () => { if (done) return; done = true; clearTimeout(timer); inflight[vip]--; s.destroy(); };
    s.on('timeout', () => { stats.fail++; });
    s.on('error', end);
    s.on('close', end);
    s.on('data', (d) => {
      stats.ok++;
      const name = d.toString().trim();
      if (last[vip] !== name) { last[vip] = name; process.stdout.write(JSON.stringify({ t: Date.now(), vip, name }) + '\\n'); }
      end();
    });
  }
}, 5);
const stats = { ok: 0, fail: 0 };
setInterval(() => process.stdout.write(JSON.stringify({ t: Date.now(), vip: '-', name: JSON.stringify({ ...stats, inflight }) }) + '\\n'), 1000);
setTimeout(() => process.exit(0), 3600_000);
`;

// a reset from the prober (it gives up on slow connections) must not kill the server
const SERVER = `require('node:net').createServer((s) => { s.on('error', () => {}); s.end(process.argv[1] + '\\n'); }).listen(${PORT});`;

function stats(values: Array<number | null>) {
  const ok = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  const at = (p: number) => (ok.length === 0 ? null : percentile(ok, p));
  return {
    n: ok.length,
    missed: values.length - ok.length,
    median: at(50),
    p99: at(99),
    min: ok[0] ?? null,
    max: ok.at(-1) ?? null,
  };
}

/** Polls (every ~1 ms, bounded by `timeoutMs`) who holds each VIP and the client's ARP entry for it. */
async function followChange(
  t0: number,
  oldHost: LabNode,
  newHost: LabNode,
  clientPid: number,
  timeoutMs: number,
): Promise<Record<SystemKey, Timeline>> {
  const out = Object.fromEntries(
    SYSTEMS.map((s) => [s.key, { oldGoneMs: null, configuredMs: null, arpMs: null, overlapPolls: 0 }]),
  ) as Record<SystemKey, Timeline>;
  const deadline = t0 + timeoutMs;
  const isDone = () =>
    SYSTEMS.every((s) => {
      const t = out[s.key];
      return t.oldGoneMs !== null && t.configuredMs !== null && t.arpMs !== null;
    });
  while (Date.now() < deadline && !isDone()) {
    for (const s of SYSTEMS) {
      const t = out[s.key];
      const now = Date.now() - t0;
      const oldHolds = holdsAddress(oldHost.anchorPid, s.vip);
      const newHolds = holdsAddress(newHost.anchorPid, s.vip);
      if (oldHolds && newHolds) t.overlapPolls++;
      if (!oldHolds) t.oldGoneMs ??= now;
      if (newHolds) t.configuredMs ??= now;
      if (arpEntry(clientPid, s.vip) === newHost.mac) t.arpMs ??= now;
    }
    await sleep(1);
  }
  return out;
}

async function v2(lab: Lab, method: 'PUT' | 'DELETE', params: Record<string, string>): Promise<number> {
  const url = `http://${lab.etcdLocal}/v2/keys/service/${SCOPE}/leader`;
  const body = new URLSearchParams(params).toString();
  const response =
    method === 'PUT'
      ? await fetch(url, { method, body, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
      : await fetch(`${url}?${body}`, { method });
  await response.text();
  return response.status;
}

async function waitUntil(fn: () => boolean, timeoutMs: number, stepMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (fn()) return true;
    await sleep(stepMs);
  }
  return fn();
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0] ?? 0;
  // the committed code, compiled (work in progress in the tree can neither break nor flatter a run)
  const build = await buildRouter(`${ROOT}.tmp/vip-bench-src`);
  if (build.typeErrors) process.stderr.write(`tsc reported type errors:\n${build.typeErrors}\n`);
  process.stderr.write(`router at ${build.commit.slice(0, 12)}\n`);
  const lab = await createLab({ prefix: 'syvb', hostCount: 3, subnet: SUBNET, etcdArgs: ['--enable-v2'] });
  const etcd = new Etcd3({ hosts: `http://${lab.etcdLocal}` });
  const members = new Map<string, PatroniMember>();
  const names = lab.hosts.map((h) => h.ns.slice(h.ns.lastIndexOf('-') + 1));
  const host = (name: string) => lab.hosts.find((h) => h.ns.endsWith(`-${name}`)) as LabNode;
  const samplers = new Map<SystemKey, HoldSampler>();
  const results: ChangeResult[] = [];
  try {
    const prepared = await prepareVipHosts(lab, etcd, {
      scope: SCOPE,
      subnet: SUBNET,
      names,
      patroni: { ttl: TTL, loop_wait: 10, retry_timeout: 10 },
      config: (name) => ({
        router: { log: { level: 'info' } },
        vip: { address: `${SYSTEMS[0].vip}/24`, interface: 'eth0', member: name },
      }),
      serve: (h, name) => lab.spawnIn(h.ns, process.execPath, ['-e', SERVER, name]),
    });
    for (const [name, member] of prepared) members.set(name, member);
    let leader = 'h1';
    if (MODE === 'release') await members.get(leader)?.acquire();
    else await members.get(leader)?.overwrite();
    await v2(lab, 'PUT', { value: leader, ttl: String(TTL), prevExist: 'false' });
    for (const name of names) {
      const ns = host(name).ns;
      lab.spawnIn(
        ns,
        process.execPath,
        [`${build.buildDir}/src/cli/run.js`, 'route', '--config', join(lab.dir, `${name}.yml`)],
        {
          log: join(lab.dir, `${name}.switchyard.log`),
        },
      );
      lab.spawnIn(
        ns,
        'vip-manager',
        [
          `--ip=${SYSTEMS[1].vip}`,
          '--netmask=24',
          '--interface=eth0',
          `--trigger-key=/service/${SCOPE}/leader`,
          `--trigger-value=${name}`,
          '--dcs-type=etcd',
          `--dcs-endpoints=http://${SUBNET}.254:2379`,
          '--interval=1000',
        ],
        { log: join(lab.dir, `${name}.vip-manager.log`) },
      );
    }
    for (const s of SYSTEMS) {
      const sampler = new HoldSampler(
        lab.hosts.map((h) => ({ name: h.ns.slice(h.ns.lastIndexOf('-') + 1), pid: h.anchorPid })),
        s.vip,
      );
      sampler.start();
      samplers.set(s.key, sampler);
    }
    const ready = await waitUntil(
      () => SYSTEMS.every((s) => holdsAddress(host(leader).anchorPid, s.vip)),
      30_000,
      50,
    );
    if (!ready) throw new Error(`the VIPs never appeared on ${leader}; logs in ${lab.dir}`);

    const seen: Array<{ t: number; vip: string; name: string }> = [];
    const prober = spawn(
      'ip',
      [
        'netns',
        'exec',
        lab.client.ns,
        process.execPath,
        '-e',
        PROBER,
        String(PORT),
        ...SYSTEMS.map((s) => s.vip),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let buffer = '';
    prober.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        seen.push(JSON.parse(buffer.slice(0, nl)) as { t: number; vip: string; name: string });
        buffer = buffer.slice(nl + 1);
      }
    });
    try {
      const firstReached = await waitUntil(
        () => SYSTEMS.every((s) => seen.some((e) => e.vip === s.vip && e.name === leader)),
        10_000,
        20,
      );
      if (!firstReached) throw new Error('the client prober never reached the first leader');
      for (const s of samplers.values()) s.resetWindow();

      for (let i = 0; i < CHANGES; i++) {
        const from = leader;
        const to = names[(names.indexOf(from) + 1) % names.length] as string;
        let t0: number;
        if (MODE === 'release') {
          await Promise.all([members.get(from)?.release(), v2(lab, 'DELETE', { prevValue: from })]);
          await sleep(GAP_MS);
          t0 = Date.now();
          const [acquired, v2status] = await Promise.all([
            members.get(to)?.acquire(),
            v2(lab, 'PUT', { value: to, ttl: String(TTL), prevExist: 'false' }),
          ]);
          if (!acquired || v2status !== 201)
            throw new Error(`${to} could not take the leader key (v3 ${acquired}, v2 HTTP ${v2status})`);
        } else {
          t0 = Date.now();
          const [, v2status] = await Promise.all([
            members.get(to)?.overwrite(),
            v2(lab, 'PUT', { value: to, ttl: String(TTL) }),
          ]);
          if (v2status !== 200 && v2status !== 201)
            throw new Error(`${to} could not overwrite the v2 leader key (HTTP ${v2status})`);
        }
        leader = to;
        const timeline = await followChange(t0, host(from), host(to), lab.client.anchorPid, 5000);
        const configuredMs = {} as Record<SystemKey, number | null>;
        const reachedMs = {} as Record<SystemKey, number | null>;
        for (const s of SYSTEMS) configuredMs[s.key] = timeline[s.key].configuredMs;
        await waitUntil(
          () => SYSTEMS.every((s) => seen.some((e) => e.vip === s.vip && e.name === to && e.t >= t0)),
          5000,
          5,
        );
        for (const s of SYSTEMS) {
          const hit = seen.find((e) => e.vip === s.vip && e.name === to && e.t >= t0);
          reachedMs[s.key] = hit ? hit.t - t0 : null;
        }
        const neighbourIsNewHost = {} as Record<SystemKey, boolean>;
        for (const s of SYSTEMS)
          neighbourIsNewHost[s.key] = (await clientNeighbour(lab, s.vip)) === host(to).mac;
        results.push({
          from,
          to,
          timeline,
          logs: {},
          configuredMs,
          reachedMs,
          neighbourIsNewHost,
          routerSawMs: null,
          t0,
        });
        process.stderr.write(
          `change ${i + 1}/${CHANGES} ${from}→${to}: ` +
            SYSTEMS.map((s) => {
              const t = timeline[s.key];
              return `${s.key} old gone ${t.oldGoneMs}, configured ${t.configuredMs}, arp ${t.arpMs}, reached ${reachedMs[s.key]} ms, overlap polls ${t.overlapPolls}`;
            }).join('; ') +
            '\n',
        );
        // a random pause, so changes do not lock onto vip-manager's 1 s poll
        await sleep(1200 + Math.floor(Math.random() * 1000));
      }
    } finally {
      prober.kill('SIGKILL');
      writeFileSync(
        join(lab.dir, 'prober.json'),
        JSON.stringify({ seen, t0s: results.map((r) => [r.t0, r.to]) }),
      );
    }

    const logLines = (name: string) =>
      lab
        .readLog(`${name}.switchyard.log`)
        .split('\n')
        .map((l) => {
          try {
            return JSON.parse(l) as { time: number; msg: string };
          } catch {
            return null;
          }
        })
        .filter((l): l is { time: number; msg: string } => l !== null);
    const logs = new Map(names.map((n) => [n, logLines(n)]));
    const after = (name: string, t0: number, match: (msg: string) => boolean) => {
      const line = logs.get(name)?.find((l) => l.time >= t0 && match(l.msg));
      return line ? line.time - t0 : null;
    };
    const vip = SYSTEMS[0].vip;
    const saw = results.map((r) => {
      const sawKey = (m: string) => m.startsWith(`leader of ${SCOPE}: `) && m.endsWith(` → ${r.to}`);
      const entry = {
        newSawKey: after(r.to, r.t0, sawKey),
        newTook: after(r.to, r.t0, (m) => m.includes(vip) && (m.startsWith('took') || m.includes('kept it'))),
        oldSawKey: after(r.from, r.t0, sawKey),
        oldReleased: after(r.from, r.t0, (m) => m.startsWith(`released ${vip}`)),
      };
      return { ...r, logs: entry, routerSawMs: entry.newSawKey };
    });
    results.splice(0, results.length, ...saw);
    const routerSaw = stats(results.map((r) => r.routerSawMs));
    const summary = SYSTEMS.map((s) => {
      const sampler = samplers.get(s.key) as HoldSampler;
      return {
        system: s.label,
        vip: s.vip,
        configured: stats(results.map((r) => r.configuredMs[s.key])),
        reached: stats(results.map((r) => r.reachedMs[s.key])),
        oldGone: stats(results.map((r) => r.timeline[s.key].oldGoneMs)),
        arp: stats(results.map((r) => r.timeline[s.key].arpMs)),
        overlapPolls: results.reduce((sum, r) => sum + r.timeline[s.key].overlapPolls, 0),
        samples: sampler.windowSamples(),
        samplesWithTwoHolders: sampler.doubleHolds().length,
        neighbourUpdated: results.filter((r) => r.neighbourIsNewHost[s.key]).length,
      };
    });
    const fmt = (v: number | null) => (v === null ? '–' : `${v}`);
    const trio = (x: { median: number | null; p99: number | null; max: number | null }) =>
      `${fmt(x.median)} / ${fmt(x.p99)} / ${fmt(x.max)}`;
    const logStat = (key: string) => stats(results.map((r) => r.logs[key] ?? null));
    const table = [
      `VIP failover (router at ${build.commit.slice(0, 12)}, default VIP settings): ${CHANGES} leader changes (${MODE === 'release' ? `release, ${GAP_MS} ms, acquire` : 'leader key overwritten in one write, no delete'} in etcd v3 + v2 at the same instant), ` +
        `3 hosts + client in network namespaces, ${new Date().toISOString().slice(0, 16)}Z`,
      '',
      '| system | (a) key → VIP configured, median / p99 / max (ms) | (b) key → client TCP reaches new host, median / p99 / max (ms) | missed (a)/(b) | samples with two holders | neighbour = new host |',
      '|---|---|---|---|---|---|',
      ...summary.map(
        (s) =>
          `| ${s.system} | ${fmt(s.configured.median)} / ${fmt(s.configured.p99)} / ${fmt(s.configured.max)} | ` +
          `${fmt(s.reached.median)} / ${fmt(s.reached.p99)} / ${fmt(s.reached.max)} | ${s.configured.missed}/${s.reached.missed} | ` +
          `${s.samplesWithTwoHolders} of ${s.samples} | ${s.neighbourUpdated}/${CHANGES} |`,
      ),
      '',
      'Timeline from outside (ms after the write, median / p99 / max; polled every ~1 ms):',
      '',
      '| system | old host no longer holds | new host holds | client ARP entry = new host | client TCP reaches new host | polls with both holding |',
      '|---|---|---|---|---|---|',
      ...summary.map(
        (s) =>
          `| ${s.system} | ${trio(s.oldGone)} | ${trio(s.configured)} | ${trio(s.arp)} | ${trio(s.reached)} | ${s.overlapPolls} |`,
      ),
      '',
      `Switchyard routers' own logs (breakdown only, ms after the write, median / p99 / max): new leader's router sees the key ${trio(logStat('newSawKey'))}, ` +
        `logs the take ${trio(logStat('newTook'))}; old leader's router sees the key ${trio(logStat('oldSawKey'))}, logs the release ${trio(logStat('oldReleased'))}.`,
      '',
      `Load average (1 min) at start ${loadAtStart.toFixed(1)}, at end ${(loadavg()[0] ?? 0).toFixed(1)} on ${availableParallelism()} cores; ` +
        'the 10 ms sampler took fewer samples when the machine was saturated.',
      '',
    ].join('\n');
    process.stdout.write(`${table}\n`);
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'results.md'), table);
    writeFileSync(
      join(OUT, 'results.json'),
      `${JSON.stringify({ date: new Date().toISOString(), mode: MODE, changes: CHANGES, gapMs: GAP_MS, loadAtStart, loadAtEnd: loadavg()[0], summary, routerSaw, results }, null, 2)}\n`,
    );
  } finally {
    for (const s of samplers.values()) s.stop();
    for (const m of members.values()) await m.close().catch(() => undefined);
    etcd.close();
    await lab.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`vip-failover: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
