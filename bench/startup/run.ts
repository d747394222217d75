// Startup time and steady RSS of a 1-cluster router (issue 14): one HAProxy target (file + local runtime
// API) following one Patroni-layout cluster in a real etcd (v3, or v2 with --dcs etcd). The baseline and
// the candidate are compiled from git (no tsx loader, as `npx switchyard route` runs) and started in
// turn, N times each, against the same etcd, HAProxy and members.
//   node --import tsx bench/startup/run.ts [--starts 5] [--steady-s 30] [--baseline <rev> (default: merge-base of HEAD and main)] [--candidate HEAD]
//        [--dcs etcd3|etcd] [--candidate-node-args "--max-semi-space-size=2"] [--out bench/results/startup-<date>.json]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import {
  ProcessGroup,
  freePort,
  freePorts,
  httpRequest,
  run,
  startEtcd,
  startHaproxy,
  waitFor,
  type EtcdCluster,
  type HaproxyInstance,
} from '../../test/harness/index.js';
import { IdentityNode, PatroniKeys, ROOT } from '../../test/harness/router.js';
import { buildRouter } from '../route-convergence/router.js';
import {
  fmt,
  fmtSummary,
  machineInfo,
  markdownTable,
  sampleProc,
  sleep,
  summarize,
  type Summary,
} from '../lib/stats.js';
import { runBench } from '../lib/main.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const STARTS = Number(arg('starts', '5'));
const STEADY_MS = Number(arg('steady-s', '30')) * 1000;
const DCS = arg('dcs', 'etcd3');
/** Default: where this branch left main (the code before its changes). */
const BASELINE = arg('baseline', 'merge-base');
const CANDIDATE = arg('candidate', 'HEAD');
/** Node flags for a third variant: the candidate build started with them (e.g. "--max-semi-space-size=1"). */
const CANDIDATE_NODE_ARGS = arg('candidate-node-args', '').split(' ').filter(Boolean);
const OUT = arg('out', `bench/results/startup-${new Date().toISOString().slice(0, 10)}-${DCS}.json`);
if (!Number.isInteger(STARTS) || STARTS < 1 || STARTS > 50) throw new Error('--starts: 1..50');
if (!Number.isFinite(STEADY_MS) || STEADY_MS < 0 || STEADY_MS > 600_000)
  throw new Error('--steady-s: 0..600');
if (DCS !== 'etcd3' && DCS !== 'etcd') throw new Error(`--dcs: expected etcd3 or etcd, got ${DCS}`);

/** median / p99 / max with one decimal. */
const mb = (s: Summary) => `${fmt(s.median, 1)} / ${fmt(s.p99, 1)} / ${fmt(s.max, 1)} MB`;

const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${line}\n`);

interface Sample {
  /** spawn → /status says a leader is routed and every target applied that generation (ms). */
  startupMs: number;
  /** VmRSS after the steady period (MB). */
  rssMb: number;
  /** From the router's own /metrics after the steady period (MB). */
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
}

/** Writes the cluster's keys in Patroni's layout: etcd v3 (leases, as Patroni 3/4) or v2 (plain PUTs). */
async function writeKeys(etcd: EtcdCluster, nodes: IdentityNode[]): Promise<() => Promise<void>> {
  const member = (n: IdentityNode, role: string) =>
    JSON.stringify({
      conn_url: `postgres://127.0.0.1:${n.port}/postgres`,
      api_url: `http://127.0.0.1:${n.apiPort}/patroni`,
      state: 'running',
      role,
      version: '4.0.7',
      xlog_location: 50_000_000,
      timeline: 2,
    });
  if (DCS === 'etcd3') {
    const keys = new PatroniKeys(etcd.endpoints, 'app', 3600);
    await keys.config();
    for (const n of nodes) await keys.member(n.name, member(n, n.name === 'pg1' ? 'primary' : 'replica'));
    await keys.leader('pg1');
    return () => keys.close();
  }
  const put = async (key: string, value: string) => {
    const res = await fetch(`${etcd.clientUrls[0]}/v2/keys/service/app/${key}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `value=${encodeURIComponent(value)}`,
    });
    if (res.status >= 300) throw new Error(`etcd v2 PUT ${key}: ${res.status} ${await res.text()}`);
  };
  await put('config', JSON.stringify({ ttl: 30, loop_wait: 10, retry_timeout: 10 }));
  for (const n of nodes) await put(`members/${n.name}`, member(n, n.name === 'pg1' ? 'primary' : 'replica'));
  await put('leader', 'pg1');
  return async () => undefined;
}

/** Reads one unlabelled gauge from a Prometheus text body, in MB (NaN when absent). */
function gaugeMb(metrics: string, name: string): number {
  const m = new RegExp(`^(?:switchyard_)?${name} ([0-9.e+]+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) / 1048576 : NaN;
}

async function oneStart(
  buildDir: string,
  group: ProcessGroup,
  config: object,
  name: string,
  nodeArgs: readonly string[],
): Promise<Sample> {
  const port = await freePort();
  const api = `127.0.0.1:${port}`;
  const configPath = group.writeFile(`${name}.yml`, stringify({ ...config, api: { listen: api } }));
  const t0 = performance.now();
  const proc = group.spawn({
    name,
    command: process.execPath,
    args: [...nodeArgs, `${buildDir}/src/cli/run.js`, 'route', '--config', configPath],
    cwd: ROOT,
  });
  let startupMs = NaN;
  try {
    await waitFor(
      async () => {
        const res = await httpRequest(`http://${api}/status`).catch(() => null);
        if (res?.status !== 200) return false;
        const s = JSON.parse(res.body) as {
          generation: number;
          clusters: Record<string, { leader: string | null; writer?: string | null }>;
          targets: Record<string, { appliedGeneration: number }>;
        };
        const targets = Object.values(s.targets);
        return (
          s.generation > 0 &&
          s.clusters['app']?.leader === 'pg1' &&
          Boolean(s.clusters['app']?.writer) &&
          targets.length > 0 &&
          targets.every((t) => t.appliedGeneration >= s.generation)
        );
      },
      {
        what: `${name}: first route applied`,
        timeoutMs: 30_000,
        intervalMs: 5,
        diagnose: () => group.logTail(name),
      },
    );
    startupMs = performance.now() - t0;
    if (process.argv.includes('--show-log')) log(`${name} log:\n${group.logTail(name, 20)}`);
    await sleep(STEADY_MS);
    const rssMb = sampleProc(proc.pid).rssKb / 1024;
    const metrics = (await httpRequest(`http://${api}/metrics`)).body;
    return {
      startupMs,
      rssMb,
      heapUsedMb: gaugeMb(metrics, 'nodejs_heap_size_used_bytes'),
      heapTotalMb: gaugeMb(metrics, 'nodejs_heap_size_total_bytes'),
      externalMb: gaugeMb(metrics, 'nodejs_external_memory_bytes'),
    };
  } finally {
    await group.stop(name, 'SIGTERM', 5_000);
  }
}

async function main(): Promise<void> {
  const machine = machineInfo();
  log(`machine: ${machine.cores} cores, load ${machine.loadavg}`);
  const builds: Array<{ label: string; commit: string; buildDir: string; nodeArgs: string[] }> = [];
  for (const [label, rev] of [
    ['baseline', BASELINE],
    ['candidate', CANDIDATE],
  ] as const) {
    log(`compiling ${label} (${rev})`);
    const revision =
      rev === 'merge-base'
        ? (await run('git', ['merge-base', 'HEAD', 'main'], { cwd: ROOT })).stdout.trim()
        : rev;
    const b = await buildRouter(`${ROOT}.tmp/startup-bench-${label}`, revision);
    builds.push({ label, commit: b.commit, buildDir: b.buildDir, nodeArgs: [] });
  }
  const candidate = builds[1] as (typeof builds)[number];
  if (CANDIDATE_NODE_ARGS.length > 0)
    builds.push({
      ...candidate,
      label: `candidate ${CANDIDATE_NODE_ARGS.join(' ')}`,
      nodeArgs: CANDIDATE_NODE_ARGS,
    });
  const group = ProcessGroup.create('startup-bench');
  const etcd = await startEtcd(DCS === 'etcd' ? { enableV2: true } : {});
  const nodes: IdentityNode[] = [];
  let haproxy: HaproxyInstance | undefined;
  let closeKeys: () => Promise<void> = async () => undefined;
  const samples: Record<string, Sample[]> = Object.fromEntries(builds.map((b) => [b.label, []]));
  try {
    for (const name of ['pg1', 'pg2']) nodes.push(await new IdentityNode(name, () => name === 'pg1').start());
    closeKeys = await writeKeys(etcd, nodes);
    const [primary, replicas] = (await freePorts(2)) as [number, number];
    const dir = group.dir;
    const config = {
      dcs: { type: DCS, hosts: etcd.endpoints },
      clusters: ['app'],
      targets: {
        haproxy: {
          output: `${dir}/haproxy.cfg`,
          runtime_api: `${dir}/admin.sock`,
          reload: `kill -USR2 $(cat ${dir}/haproxy.pid)`,
          frontends: { app: { primary: `127.0.0.1:${primary}`, replicas: `127.0.0.1:${replicas}` } },
        },
      },
    };
    // The file exists before HAProxy starts, as config management would leave it.
    const renderConfig = group.writeFile('render.yml', stringify(config));
    const rendered = await run(
      process.execPath,
      [`${builds[1]?.buildDir}/src/cli/run.js`, 'render', '--config', renderConfig],
      { cwd: ROOT, reject: false },
    );
    if (rendered.exitCode !== 0) throw new Error(`render failed: ${rendered.stderr}`);
    haproxy = await startHaproxy({ configPath: `${dir}/haproxy.cfg` });
    writeFileSync(`${dir}/haproxy.pid`, String(haproxy.pid));
    for (let i = 0; i < STARTS; i++)
      for (const b of i % 2 === 0 ? builds : [...builds].reverse()) {
        const s = await oneStart(
          b.buildDir,
          group,
          config,
          `${b.label.replace(/[^a-z0-9]+/gi, '-')}-${i + 1}`,
          b.nodeArgs,
        );
        samples[b.label]?.push(s);
        log(
          `${b.label} ${i + 1}/${STARTS}: start→route ${s.startupMs.toFixed(0)} ms, RSS ${s.rssMb.toFixed(1)} MB ` +
            `(heap used ${s.heapUsedMb.toFixed(1)}, total ${s.heapTotalMb.toFixed(1)}, external ${s.externalMb.toFixed(1)})`,
        );
      }
  } finally {
    await group.cleanup();
    await haproxy?.stop();
    await closeKeys();
    await etcd.stop();
    for (const n of nodes) await n.stop();
  }
  const summaries = Object.fromEntries(
    builds.map((b) => {
      const s = samples[b.label] ?? [];
      const of = (f: keyof Sample): Summary => summarize(s.map((x) => x[f]));
      return [
        b.label,
        {
          startupMs: of('startupMs'),
          rssMb: of('rssMb'),
          heapUsedMb: of('heapUsedMb'),
          externalMb: of('externalMb'),
        },
      ];
    }),
  ) as Record<string, Record<'startupMs' | 'rssMb' | 'heapUsedMb' | 'externalMb', Summary>>;
  const table = markdownTable(
    [
      'router',
      'start → first route applied',
      `RSS after ${STEADY_MS / 1000} s`,
      'V8 heap used',
      'external',
      'n',
    ],
    builds.map((b) => {
      const s = summaries[b.label] as Record<'startupMs' | 'rssMb' | 'heapUsedMb' | 'externalMb', Summary>;
      return [
        `${b.label} ${b.commit.slice(0, 10)}`,
        fmtSummary(s.startupMs),
        mb(s.rssMb),
        mb(s.heapUsedMb),
        mb(s.externalMb),
        String(samples[b.label]?.length ?? 0),
      ];
    }),
  );
  const end = machineInfo().loadavg;
  process.stdout.write(
    `## Router startup and RSS, 1 cluster, dcs.type ${DCS}, ${new Date().toISOString()} (${machine.cores} cores, load at start ${machine.loadavg}, at end ${end}); median / p99 / max\n\n${table}\n`,
  );
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(
    OUT,
    `${JSON.stringify({ bench: 'startup', dcs: DCS, candidateNodeArgs: CANDIDATE_NODE_ARGS, machine, loadavgAtEnd: end, builds, samples, summaries }, null, 2)}\n`,
  );
  log(`wrote ${OUT}`);
}

runBench(main);
