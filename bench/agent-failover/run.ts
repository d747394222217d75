// Agent vs Patroni 3.0.2, side by side in one run (issue 6 bench): same DCS settings (ttl 10, loop_wait 2,
// retry_timeout 4, synchronous_mode on), each cluster behind a Switchyard router driving HAProxy, a client
// writing every 10 ms through the routed endpoint and a probe asking every node every 10 ms.
//   node --import tsx bench/agent-failover/run.ts [--switchovers 10] [--failovers 5] [--out results.json] [--only agent|patroni]
import { existsSync, writeFileSync } from 'node:fs';
import {
  ProcessGroup,
  freePort,
  sqlQuery,
  startEtcd,
  startHaproxy,
  waitFor,
  type EtcdCluster,
} from '../../test/harness/index.js';
import { routerStatus, startRouterProcess, waitApplied } from '../../test/harness/router.js';
import { NodeProbe, RoutedWriter, directOutage, doubleWritable, percentile, routedOutage } from './load.js';
import { agentSubject, patroniSubject, type Subject } from './subjects.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SWITCHOVERS = arg('switchovers', 10);
const FAILOVERS = arg('failovers', 5);
const outIndex = process.argv.indexOf('--out');
const OUT = outIndex > 0 ? (process.argv[outIndex + 1] as string) : 'bench/agent-failover/results.json';
const SETTLE_MS = 2000;

interface EventResult {
  kind: 'switchover' | 'failover';
  /** Command/kill → new leader writable (ms). */
  commandMs: number;
  /** Longest stretch without an acknowledged write through the routed endpoint (ms). */
  routedOutageMs: number;
  /** Longest stretch with no node accepting writes, probed directly (ms). */
  directOutageMs: number;
}

interface SubjectResult {
  kind: Subject['kind'];
  events: EventResult[];
  acknowledged: number;
  lost: number;
  doubleWritableSamples: number;
  probeSamples: number;
  readOnlyErrors: number;
  errors: number;
}

async function routed(
  subject: Subject,
  etcd: EtcdCluster,
  group: ProcessGroup,
): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = group.dir;
  const config = {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    clusters: [subject.scope],
    routing: { writable_probe: { method: 'sql', user: 'postgres', password: subject.password } },
    targets: {
      haproxy: {
        output: `${dir}/haproxy.cfg`,
        runtime_api: `${dir}/admin.sock`,
        state_file: `${dir}/haproxy.state`,
        reload: `kill -USR2 $(cat ${dir}/haproxy.pid)`,
        timeouts: { connect: '300ms' },
        checks: { inter: '1s', fall: 2, rise: 2 },
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
  return {
    port,
    stop: async () => {
      await haproxy.stop();
    },
  };
}

async function measure(subject: Subject, etcd: EtcdCluster): Promise<SubjectResult> {
  const group = ProcessGroup.create(`bench-${subject.kind}`);
  await subject.waitHealthy();
  const leader = (await subject.leader()) as string;
  const port = subject.nodes.find((n) => n.name === leader)?.pgPort as number;
  await sqlQuery(
    { port, password: subject.password },
    'CREATE TABLE IF NOT EXISTS bench_writes (id bigserial primary key, at timestamptz default now())',
  );
  const route = await routed(subject, etcd, group);
  const writer = new RoutedWriter(route.port, subject.password).start();
  const probe = new NodeProbe(subject.nodes, subject.password).start();
  const events: EventResult[] = [];
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const plan = [
      ...Array<'switchover'>(SWITCHOVERS).fill('switchover'),
      ...Array<'failover'>(FAILOVERS).fill('failover'),
    ];
    for (const kind of plan) {
      await subject.waitHealthy();
      await new Promise((r) => setTimeout(r, 1000));
      const from = Date.now();
      let done: number;
      if (kind === 'switchover') {
        await subject.switchover();
        done = Date.now();
        await new Promise((r) => setTimeout(r, SETTLE_MS));
      } else {
        const old = await subject.killLeader();
        await subject.waitForNewLeader(old);
        done = Date.now();
        await new Promise((r) => setTimeout(r, SETTLE_MS));
        await subject.restart(old);
      }
      const to = Date.now();
      const e: EventResult = {
        kind,
        commandMs: done - from,
        routedOutageMs: routedOutage(writer.acks, from - 200, to),
        directOutageMs: directOutage(probe.samples, from, to),
      };
      events.push(e);
      process.stderr.write(
        `${subject.kind} ${kind}: command ${e.commandMs} ms, routed outage ${e.routedOutageMs} ms, direct ${e.directOutageMs} ms\n`,
      );
    }
    await subject.waitHealthy();
  } finally {
    await writer.stop();
    await probe.stop();
    await route.stop();
    await group.cleanup();
  }
  const final = (await subject.leader()) as string;
  const rows = await sqlQuery<{ id: string }>(
    { port: subject.nodes.find((n) => n.name === final)?.pgPort as number, password: subject.password },
    'SELECT id FROM bench_writes',
  );
  const have = new Set(rows.map((r) => Number(r.id)));
  return {
    kind: subject.kind,
    events,
    acknowledged: writer.acks.length,
    lost: writer.acks.filter((a) => !have.has(a.id)).length,
    doubleWritableSamples: doubleWritable(probe.samples),
    probeSamples: probe.samples.length,
    readOnlyErrors: writer.readOnlyErrors,
    errors: writer.errors,
  };
}

function row(r: SubjectResult, kind: EventResult['kind'], field: keyof Omit<EventResult, 'kind'>): string {
  const v = r.events.filter((e) => e.kind === kind).map((e) => e[field]);
  return `${String(percentile(v, 50)).padStart(7)} ${String(percentile(v, 99)).padStart(7)}`;
}

function table(results: SubjectResult[]): string {
  const lines = ['                                   median     p99   (ms)'];
  for (const kind of ['switchover', 'failover'] as const) {
    for (const field of ['commandMs', 'routedOutageMs', 'directOutageMs'] as const) {
      for (const r of results)
        lines.push(`${`${r.kind.padEnd(8)} ${kind.padEnd(10)} ${field}`.padEnd(34)} ${row(r, kind, field)}`);
    }
  }
  for (const r of results) {
    lines.push(
      `${r.kind}: ${r.acknowledged} acknowledged writes, ${r.lost} lost, ${r.doubleWritableSamples}/${r.probeSamples} probe samples with two writable nodes, ${r.readOnlyErrors} read-only errors, ${r.errors} client errors`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const results: SubjectResult[] = [];
  const onlyIndex = process.argv.indexOf('--only');
  const only = onlyIndex > 0 ? process.argv[onlyIndex + 1] : null;
  const makers = [agentSubject, patroniSubject].filter(
    (_, i) => only === null || only === ['agent', 'patroni'][i],
  );
  for (const make of makers) {
    const etcd = await startEtcd();
    let subject: Subject | undefined;
    try {
      subject = await make(etcd);
      results.push(await measure(subject, etcd));
    } finally {
      await subject?.stop();
      await etcd.stop();
    }
  }
  const text = table(results);
  process.stdout.write(`${text}\n`);
  writeFileSync(
    OUT,
    `${JSON.stringify({ settings: { ttl: 10, loop_wait: 2, retry_timeout: 4, synchronous_mode: true, switchovers: SWITCHOVERS, failovers: FAILOVERS }, results }, null, 2)}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
