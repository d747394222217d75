// VIP failover, Switchyard vs vip-manager 1.0.2, side by side in one run.
//
//   node --import tsx bench/vip-failover/run.ts [--changes 20] [--gap-ms 50] [--out bench/vip-failover/results]
//
// Three database hosts and a client in network namespaces on one bridge, etcd (v3 + v2 API) in the
// bridge namespace. On every host run a Switchyard router (VIP .100, etcd v3) and vip-manager 1.0.2
// (VIP .101, etcd v2, `interval` 1000 ms). For each leader change the old leader releases its key in
// both keyspaces, `--gap-ms` later the new leader writes it in both keyspaces at the same instant
// (t0), and the bench measures, per system:
//   (a) t0 → the VIP configured on the new host (its local route appears; polled every ~1 ms);
//   (b) t0 → the client's first TCP connect to the VIP answered by the new host (a prober in the
//       client namespace opens a connection every 5 ms to each VIP).
// It also samples every host every 10 ms for two holders of one VIP, and after each change checks the
// client's neighbour entry for each VIP. Prints a Markdown table; writes results.md and results.json.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { Etcd3 } from 'etcd3';
import { createLab, holdsAddress, type Lab, type LabNode } from '../../test/harness/netns.js';
import { sleep } from '../../test/harness/wait.js';
import { HoldSampler, PatroniMember, clientNeighbour } from '../../test/targets/vip.lab.js';

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: '20' },
    'gap-ms': { type: 'string', default: '50' },
    out: { type: 'string', default: 'bench/vip-failover/results' },
  },
});
const CHANGES = Number(values.changes);
const GAP_MS = Number(values['gap-ms']);
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

interface ChangeResult {
  readonly from: string;
  readonly to: string;
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

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? null;
}

function stats(values: Array<number | null>) {
  const ok = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  return {
    n: ok.length,
    missed: values.length - ok.length,
    median: percentile(ok, 50),
    p99: percentile(ok, 99),
    min: ok[0] ?? null,
    max: ok.at(-1) ?? null,
  };
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
  const lab = await createLab({ prefix: 'syvb', hostCount: 3, subnet: SUBNET, etcdArgs: ['--enable-v2'] });
  const etcd = new Etcd3({ hosts: `http://${lab.etcdLocal}` });
  const members = new Map<string, PatroniMember>();
  const names = lab.hosts.map((h) => h.ns.slice(h.ns.lastIndexOf('-') + 1));
  const host = (name: string) => lab.hosts.find((h) => h.ns.endsWith(`-${name}`)) as LabNode;
  const samplers = new Map<SystemKey, HoldSampler>();
  const results: ChangeResult[] = [];
  try {
    await etcd
      .put(`/service/${SCOPE}/config`)
      .value(JSON.stringify({ ttl: TTL, loop_wait: 10, retry_timeout: 10 }));
    for (const name of names) {
      const h = host(name);
      writeFileSync(
        join(lab.dir, `${name}.yml`),
        [
          'dcs:',
          '  type: etcd3',
          `  hosts: ["${SUBNET}.254:2379"]`,
          `clusters: [${SCOPE}]`,
          'log:',
          '  level: info',
          'targets:',
          '  vip:',
          `    address: ${SYSTEMS[0].vip}/24`,
          '    interface: eth0',
          `    member: ${name}`,
          '',
        ].join('\n'),
      );
      lab.spawnIn(h.ns, process.execPath, ['-e', SERVER, name]);
      const member = new PatroniMember(etcd, SCOPE, name, h.ip, TTL);
      await member.register();
      members.set(name, member);
    }
    let leader = 'h1';
    await members.get(leader)?.acquire();
    await v2(lab, 'PUT', { value: leader, ttl: String(TTL), prevExist: 'false' });
    for (const name of names) {
      const ns = host(name).ns;
      lab.spawnIn(
        ns,
        process.execPath,
        ['--import', 'tsx', 'src/cli/run.ts', 'route', '--config', join(lab.dir, `${name}.yml`)],
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
        await Promise.all([members.get(from)?.release(), v2(lab, 'DELETE', { prevValue: from })]);
        await sleep(GAP_MS);
        const t0 = Date.now();
        const [acquired, v2status] = await Promise.all([
          members.get(to)?.acquire(),
          v2(lab, 'PUT', { value: to, ttl: String(TTL), prevExist: 'false' }),
        ]);
        if (!acquired || v2status !== 201)
          throw new Error(`${to} could not take the leader key (v3 ${acquired}, v2 HTTP ${v2status})`);
        leader = to;
        const configuredMs = {} as Record<SystemKey, number | null>;
        const reachedMs = {} as Record<SystemKey, number | null>;
        await Promise.all(
          SYSTEMS.map(async (s) => {
            const ok = await waitUntil(() => holdsAddress(host(to).anchorPid, s.vip), 5000, 1);
            configuredMs[s.key] = ok ? Date.now() - t0 : null;
          }),
        );
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
        results.push({ from, to, configuredMs, reachedMs, neighbourIsNewHost, routerSawMs: null, t0 });
        process.stderr.write(
          `change ${i + 1}/${CHANGES} ${from}→${to}: ` +
            SYSTEMS.map(
              (s) => `${s.key} configured ${configuredMs[s.key]} ms, reached ${reachedMs[s.key]} ms`,
            ).join('; ') +
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

    const saw = results.map((r) => {
      const line = lab
        .readLog(`${r.to}.switchyard.log`)
        .split('\n')
        .map((l) => {
          try {
            return JSON.parse(l) as { time: number; msg: string };
          } catch {
            return null;
          }
        })
        .find(
          (l) =>
            l !== null &&
            l.time >= r.t0 &&
            l.msg.startsWith(`leader of ${SCOPE}: `) &&
            l.msg.endsWith(` → ${r.to}`),
        );
      return { ...r, routerSawMs: line ? line.time - r.t0 : null };
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
        samples: sampler.windowSamples(),
        samplesWithTwoHolders: sampler.doubleHolds().length,
        neighbourUpdated: results.filter((r) => r.neighbourIsNewHost[s.key]).length,
      };
    });
    const fmt = (v: number | null) => (v === null ? '–' : `${v}`);
    const table = [
      `VIP failover: ${CHANGES} leader changes (release, ${GAP_MS} ms, acquire in etcd v3 + v2 at the same instant), ` +
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
      `Load average (1 min) at start ${loadAtStart.toFixed(1)}, at end ${(loadavg()[0] ?? 0).toFixed(1)} on ${availableParallelism()} cores; ` +
        'the 10 ms sampler took fewer samples when the machine was saturated.',
      '',
      `Switchyard breakdown: t0 → the new leader's router logs the key change (etcd watch + router): median ${fmt(routerSaw.median)} ms, p99 ${fmt(routerSaw.p99)} ms.`,
      '',
    ].join('\n');
    process.stdout.write(`${table}\n`);
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'results.md'), table);
    writeFileSync(
      join(OUT, 'results.json'),
      `${JSON.stringify({ date: new Date().toISOString(), changes: CHANGES, gapMs: GAP_MS, loadAtStart, loadAtEnd: loadavg()[0], summary, routerSaw, results }, null, 2)}\n`,
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
