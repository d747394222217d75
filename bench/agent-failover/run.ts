// Agent vs Patroni 3.0.2, side by side in one run, measured from outside (issue 11): same DCS settings
// (ttl 10, loop_wait 2, retry_timeout 4, synchronous_mode on), each cluster behind a Switchyard router with
// its default configuration driving HAProxy. A client writes every 10 ms through the routed endpoint and,
// on separate connections, directly to every node; a watcher on etcd sees the leader and member keys.
//   node --import tsx bench/agent-failover/run.ts [--switchovers 20] [--crashes 10] [--kills 10]
//     [--patroni-switchovers 5] [--patroni-crashes 3] [--patroni-kills 3] [--only agent|patroni] [--out f.json]
import { existsSync, writeFileSync } from 'node:fs';
import {
  ProcessGroup,
  freePort,
  sqlQuery,
  startEtcd,
  startHaproxy,
  waitFor,
} from '../../test/harness/index.js';
import { routerStatus, startRouterProcess, waitApplied } from '../../test/harness/router.js';
import { runBench } from '../lib/main.js';
import { machineInfo, sleep, summarize, type Summary } from '../lib/stats.js';
import {
  CREATE_SQL,
  OutsideObserver,
  TIMELINE_HEADER,
  timelineLine,
  timelineOf,
  type Timeline,
} from './outside.js';
import { agentSubject, patroniSubject, type Subject } from './subjects.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const outIndex = process.argv.indexOf('--out');
const OUT = outIndex > 0 ? (process.argv[outIndex + 1] as string) : 'bench/results/agent-failover.json';
const onlyIndex = process.argv.indexOf('--only');
const ONLY = onlyIndex > 0 ? process.argv[onlyIndex + 1] : null;

type Kind = 'switchover' | 'pg_crash' | 'host_kill';
const PLAN: Record<Subject['kind'], Record<Kind, number>> = {
  agent: {
    switchover: arg('switchovers', 20),
    pg_crash: arg('crashes', 10),
    host_kill: arg('kills', 10),
  },
  patroni: {
    switchover: arg('patroni-switchovers', 5),
    pg_crash: arg('patroni-crashes', 3),
    host_kill: arg('patroni-kills', 3),
  },
};
/** After the new primary is writable: time for the router to follow and for the timeline to close. */
const SETTLE_MS = 1500;

interface SubjectResult {
  kind: Subject['kind'];
  events: Timeline[];
  acknowledged: number;
  lost: number;
  overlapAcks: number;
  routedErrors: number;
  readOnlyRouted: number;
}

async function routed(subject: Subject, etcdEndpoints: readonly string[], group: ProcessGroup) {
  const port = await freePort();
  const dir = group.dir;
  // The router's defaults: only where to write HAProxy's files and how to reload it.
  const config = {
    dcs: { type: 'etcd3', hosts: etcdEndpoints },
    clusters: [subject.scope],
    targets: {
      haproxy: {
        output: `${dir}/haproxy.cfg`,
        runtime_api: `${dir}/admin.sock`,
        state_file: `${dir}/haproxy.state`,
        reload: `kill -USR2 $(cat ${dir}/haproxy.pid)`,
        frontends: { [subject.scope]: { primary: `127.0.0.1:${port}` } },
      },
    },
  };
  const router = await startRouterProcess(group, 'router', config);
  await waitFor(
    async () => (await routerStatus(router.api)).clusters[subject.scope]?.writable === true || null,
    { what: 'router sees a writable leader', timeoutMs: 30_000 },
  );
  await waitFor(() => existsSync(`${dir}/haproxy.cfg`) || null, {
    what: 'router wrote haproxy.cfg',
    timeoutMs: 15_000,
  });
  const haproxy = await startHaproxy({ configPath: `${dir}/haproxy.cfg` });
  writeFileSync(`${dir}/haproxy.pid`, String(haproxy.pid));
  await waitApplied(router.api, 15_000);
  return { port, stop: () => haproxy.stop() };
}

async function event(subject: Subject, kind: Kind): Promise<{ at: number; from: string }> {
  await subject.waitHealthy();
  await sleep(500);
  const from = (await subject.leader()) as string;
  const at = Date.now();
  if (kind === 'switchover') {
    await subject.switchover(from);
    await subject.waitForNewLeader(from);
  } else if (kind === 'pg_crash') {
    await subject.crashPostgres(from);
    await sleep(50);
    await subject.waitForNewLeader();
  } else {
    await subject.killLeader(from);
    await subject.waitForNewLeader(from);
    await sleep(SETTLE_MS);
    await subject.restart(from);
  }
  await sleep(SETTLE_MS);
  return { at, from };
}

async function measure(subject: Subject, etcdEndpoints: readonly string[]): Promise<SubjectResult> {
  const group = ProcessGroup.create(`bench-${subject.kind}`);
  await subject.waitHealthy();
  const leader = (await subject.leader()) as string;
  const ports = new Map(subject.nodes.map((n) => [n.name, n.pgPort]));
  await sqlQuery({ port: ports.get(leader) as number, password: subject.password }, CREATE_SQL);
  const route = await routed(subject, etcdEndpoints, group);
  const outside = new OutsideObserver({
    routedPort: route.port,
    nodes: subject.nodes,
    password: subject.password,
    etcdEndpoints,
    prefix: subject.prefix,
  });
  await outside.start();
  const events: Timeline[] = [];
  try {
    await sleep(1000);
    const plan = (Object.entries(PLAN[subject.kind]) as [Kind, number][]).flatMap(([k, n]) =>
      Array<Kind>(n).fill(k),
    );
    for (const kind of plan) {
      const { at, from } = await event(subject, kind);
      const t = timelineOf({
        kind,
        from,
        at,
        until: Date.now(),
        direct: new Map([...outside.direct].map(([n, w]) => [n, w.samples])),
        routed: outside.routed.samples,
        keys: outside.keys,
        ports,
      });
      events.push(t);
      process.stderr.write(`${subject.kind.padEnd(8)}${timelineLine(t)}\n`);
    }
    await subject.waitHealthy();
  } finally {
    await outside.stop();
    await route.stop();
    await group.cleanup();
  }
  const final = (await subject.leader()) as string;
  const rows = await sqlQuery<{ id: string }>(
    { port: ports.get(final) as number, password: subject.password },
    'SELECT id FROM bench_writes',
  );
  const have = new Set(rows.map((r) => Number(r.id)));
  const acked = outside.ackedIds();
  const routedSamples = outside.routed.samples;
  return {
    kind: subject.kind,
    events,
    acknowledged: acked.length,
    lost: acked.filter((id) => !have.has(id)).length,
    overlapAcks: events.reduce((a, e) => a + e.overlapAcks, 0),
    routedErrors: routedSamples.filter((s) => s.error !== null).length,
    readOnlyRouted: routedSamples.filter((s) => /read-only/.test(s.error ?? '')).length,
  };
}

const windows = (r: SubjectResult, kind: Kind, field: 'noWritableMs' | 'routedOutageMs'): Summary =>
  summarize(r.events.filter((e) => e.kind === kind && e[field] !== null).map((e) => e[field] as number));

function report(results: SubjectResult[], load: { before: string; after: string }): string {
  const lines = [`load average: ${load.before} (start), ${load.after} (end)`, ''];
  lines.push(`${'subject / event / window'.padEnd(42)} median     p99     max    n   (ms)`);
  for (const kind of ['switchover', 'pg_crash', 'host_kill'] as const) {
    for (const r of results) {
      for (const field of ['noWritableMs', 'routedOutageMs'] as const) {
        const s = windows(r, kind, field);
        if (s.n === 0) continue;
        const name = `${r.kind} ${kind} ${field === 'noWritableMs' ? 'no writable node' : 'routed outage'}`;
        lines.push(
          `${name.padEnd(42)}${[s.median, s.p99, s.max, s.n].map((v) => String(v).padStart(7)).join(' ')}`,
        );
      }
    }
  }
  lines.push('');
  for (const r of results) {
    lines.push(
      `${r.kind}: ${r.acknowledged} acknowledged writes, ${r.lost} lost, ${r.overlapAcks} acks on an old primary after the new one's first, ${r.routedErrors} routed client errors (${r.readOnlyRouted} read-only)`,
    );
  }
  lines.push('', 'timelines (ms after the request/kill):', `${''.padEnd(8)}${TIMELINE_HEADER}`);
  for (const r of results) for (const e of r.events) lines.push(`${r.kind.padEnd(8)}${timelineLine(e)}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const results: SubjectResult[] = [];
  const before = machineInfo().loadavg;
  const makers = [agentSubject, patroniSubject].filter(
    (_, i) => ONLY === null || ONLY === ['agent', 'patroni'][i],
  );
  for (const make of makers) {
    const etcd = await startEtcd();
    let subject: Subject | undefined;
    try {
      subject = await make(etcd);
      results.push(await measure(subject, etcd.endpoints));
    } finally {
      await subject?.stop();
      await etcd.stop();
    }
  }
  const load = { before, after: machineInfo().loadavg };
  process.stdout.write(`${report(results, load)}\n`);
  writeFileSync(
    OUT,
    `${JSON.stringify({ settings: { ttl: 10, loop_wait: 2, retry_timeout: 4, synchronous_mode: true, plan: PLAN }, machine: machineInfo(), load, results }, null, 2)}\n`,
  );
}

runBench(main);
