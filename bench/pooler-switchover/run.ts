// Pooler switchover benchmark (issue 4). Real etcd + 3-node Patroni 3.0.2 + PgBouncer 1.18 (transaction mode),
// 8 clients writing in a loop (+ with --long-tx S, 1 client running S-second transactions), per event:
//   A: PgBouncer managed by the Switchyard router; planned = `switchyard switchover`; unplanned = leader killed.
//   B: PgBouncer -> HAProxy (Patroni checks: inter 3s fall 3 rise 2); planned = `patronictl switchover --force`.
//   C (optional): A's router, but planned = `patronictl switchover --force` (the router alone, no command).
// Usage: node --import tsx bench/pooler-switchover/run.ts [--planned 10] [--unplanned 3] [--setups A,B]
//        [--long-tx 0.3] [--ha patroni|agent]
//        [--json bench/results/pooler-switchover.json] [--md bench/pooler-switchover/RESULTS.md]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import {
  ProcessGroup,
  freePort,
  httpRequest,
  patroniHaproxyConfig,
  sleep,
  sqlQuery,
  startEtcd,
  startHaproxy,
  startPatroniCluster,
  waitFor,
  type EtcdCluster,
  type HaproxyInstance,
  type PatroniCluster,
} from '../../test/harness/index.js';
import {
  startPgBouncerBed,
  writeBedRouterConfig,
  type PgBouncerBed,
} from '../../test/targets/pgbouncer/bed.js';
import { isInFlightError, startLoad, type LoadReport } from '../../test/targets/pgbouncer/load.js';
import { runSwitchover } from '../../src/cli/switchover.js';
import { DirectWriteProbe, type DirectAck } from '../lib/direct.js';
import { PooledWriters, clientPause } from '../lib/pooled-writers.js';
import { runBench } from '../lib/main.js';
import { machineInfo, summarize, fmtSummary } from '../lib/stats.js';
import { PATRONI_SUPERUSER, sqlQuery as adminQuery } from '../../test/harness/index.js';
import { SUPERUSER as AGENT_SUPERUSER, startAgentCluster, startAll } from '../../test/agent/helpers.js';
import { STACK, STACK_VERSIONS, switchyardCommandInStack } from '../../test/harness/stack.js';

type Setup = 'A' | 'B' | 'C';
type Kind = 'planned' | 'unplanned';

interface EventResult {
  setup: Setup;
  kind: Kind;
  index: number;
  from: string;
  to: string;
  statements: number;
  errors: number;
  readOnlyErrors: number;
  /**
   * Unplanned: errors of statements (or reconnects) started after SIGKILL reached PostgreSQL that no server
   * was running (PgBouncer failed them itself): not in flight.
   */
  errorsAfterKill: number | null;
  /** Longest single statement of a writer client (ms). */
  maxWaitMs: number;
  /** Sum of writer statement latencies >= 100 ms (ms). */
  totalWaitMs: number;
  /** Event start → first statement answered by the new leader (ms; includes the command's own start-up). */
  recoveredMs: number | null;
  /** Longest time no writer statement succeeded, across all clients (ms). */
  outageMs: number;
  /** Patroni's own time: planned A = POST → new leader writable (probe); planned B = patronictl until new writable leader. */
  patroniMs: number | null;
  /** A planned: PAUSE → RESUME as printed by `switchyard switchover`. */
  pauseMs: number | null;
  /** From outside: first pooled statement held → first answered by the new primary (ms). */
  clientPausedMs: number | null;
  /** From outside: old primary's last direct write → new primary's first direct write (ms). */
  windowMs: number | null;
  /** Per-event timeline, ms since the command started: outside measurements and the command's own log. */
  timeline: Record<string, number | null>;
  sampleErrors: string[];
  /** `switchyard switchover`'s own step log (planned A). */
  commandLines: string[];
  /** The first 50 errors: when they failed and when their statement started, since the event started (ms). */
  errorLog: Array<{ atMs: number; startedMs: number; message: string }>;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : fallback;
}

const PLANNED = Number(arg('planned', '10'));
const UNPLANNED = Number(arg('unplanned', '3'));
const SETUPS = arg('setups', 'A,B').split(',') as Setup[];
const JSON_OUT = arg('json', 'bench/results/pooler-switchover.json');
const MD_OUT = arg('md', 'bench/pooler-switchover/RESULTS.md');
/** Seconds of the extra client's transactions (0: no such client, the issue's independent client alone). */
const LONG_TX = Number(arg('long-tx', '0'));
/** The HA layer: Patroni 3.0.2 or Switchyard's agent (same DCS settings, same REST API). */
const HA = arg('ha', 'patroni') as 'patroni' | 'agent';
/** `process` (default): `switchyard switchover` as its own process; `inline`: called in the bench's process. */
const CMD = arg('cmd', 'process') as 'process' | 'inline';
/**
 * `--before-stop`: Patroni runs `switchyard before-stop` as its `postgresql.before_stop` and every member
 * carries `tags.switchyard_before_stop`, so `switchyard switchover` pauses at the stop (the stop
 * handshake). Patroni >= 3.0.3: run with SWITCHYARD_STACK=trixie (Patroni 4.0.7).
 */
const BEFORE_STOP = process.argv.includes('--before-stop');
if (BEFORE_STOP && (HA !== 'patroni' || STACK !== 'trixie')) {
  throw new Error('--before-stop needs --ha patroni and SWITCHYARD_STACK=trixie (Patroni >= 3.0.3)');
}
const WRITE = 'insert into t (v) values (1) returning inet_server_port() as port';

function log(text: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${text}\n`);
}

function quantile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/**
 * `switchyard switchover` as users run it: its own process, so the bench's clients do not share its
 * event loop. Each step line is stamped with the bench's own time since `t0` as it arrives (a pipe
 * write is well under a millisecond here), replacing the command's clock, which starts after Node's own
 * start-up. Bounded: killed after 60 s.
 */
async function switchoverProcess(configPath: string, t0: number): Promise<string[]> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/run.ts', 'switchover', '--config', configPath, '--cluster', 'demo'],
    { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const at = Date.now() - t0;
    const parts = (partial + String(chunk)).split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) lines.push(`[${String(at).padStart(6)} ms] ${l.replace(/^\[\s*\d+ ms\] /, '')}`);
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += String(chunk)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearTimeout(timer);
  if (code !== 0)
    log(`switchyard switchover exited ${code}: ${lines.slice(-3).join(' | ')} ${stderr.slice(-500)}`);
  return lines;
}

/** What the bench needs of a cluster: Patroni's harness cluster, or an agent cluster adapted to it. */
type Lab = Pick<
  PatroniCluster,
  | 'nodes'
  | 'waitForLeader'
  | 'waitForHealthy'
  | 'sql'
  | 'logTail'
  | 'killLeader'
  | 'startNode'
  | 'switchover'
  | 'stop'
> & { superuserPassword: string };

async function startLab(etcd: EtcdCluster): Promise<Lab> {
  if (HA === 'patroni') {
    const c = await startPatroniCluster({
      scope: 'demo',
      nodes: 3,
      etcd,
      ...(BEFORE_STOP
        ? {
            extraPostgresql: (_node: unknown, file: string) => ({
              before_stop: switchyardCommandInStack(['before-stop', '-c', file]),
            }),
            tags: Object.fromEntries(['pg1', 'pg2', 'pg3'].map((n) => [n, { switchyard_before_stop: true }])),
          }
        : {}),
    });
    return Object.assign(c, { superuserPassword: PATRONI_SUPERUSER.password });
  }
  const c = await startAgentCluster({ scope: 'demo', nodes: 3, etcd, ttl: 10, loopWait: 2, retryTimeout: 4 });
  await startAll(c);
  const all = c.nodes.map((n) => n.name);
  return {
    nodes: c.nodes as unknown as PatroniCluster['nodes'],
    superuserPassword: AGENT_SUPERUSER.password,
    waitForLeader: (o = {}) => c.waitForLeader(o),
    waitForHealthy: async () => {
      await c.waitForReplicas(all);
      return (await c.waitForLeader()) as string;
    },
    sql: ((name: string, q: string) => c.sql(name, q)) as PatroniCluster['sql'],
    logTail: (name, lines) => c.logTail(name, lines),
    killLeader: async () => {
      const leader = await c.waitForLeader();
      await c.kill(leader);
      return leader;
    },
    startNode: async (name) => c.start(name),
    switchover: () => Promise.reject(new Error('setup B is not wired to the agent lab')),
    stop: () => c.stopAll(),
  };
}

async function viaPooler(bed: PgBouncerBed): Promise<number | null> {
  try {
    const rows = await sqlQuery({ port: bed.bouncer.port, database: 'app' }, WRITE, undefined, 3000);
    return Number(rows[0]?.['port']);
  } catch {
    return null;
  }
}

async function settle(cluster: Lab, bed: PgBouncerBed): Promise<string> {
  await cluster.waitForHealthy({ timeoutMs: 120_000 });
  const leader = await cluster.waitForLeader();
  const port = cluster.nodes.find((n) => n.name === leader)?.pgPort;
  await waitFor(async () => (await viaPooler(bed)) === port, {
    what: `writes through PgBouncer to reach ${leader}`,
    timeoutMs: 60_000,
    intervalMs: 250,
  });
  return leader;
}

async function runEvent(
  setup: Setup,
  kind: Kind,
  index: number,
  cluster: Lab,
  bed: PgBouncerBed,
  configPath: string | null,
): Promise<EventResult> {
  const from = await settle(cluster, bed);
  const load = startLoad({
    port: bed.bouncer.port,
    database: 'app',
    clients: 8,
    statement: WRITE,
    ...(LONG_TX > 0 ? { longTransactionSeconds: LONG_TX } : {}),
    statementTimeoutMs: 60_000,
  });
  const direct = new DirectWriteProbe(
    cluster.nodes.map((n) => n.pgPort),
    cluster.superuserPassword,
  ).start();
  const pooled = new PooledWriters(bed.bouncer.port, 'app').start();
  await sleep(1000);
  const t0 = Date.now();
  let commandLines: string[] = [];
  let patroniMs: number | null = null;
  let pauseMs: number | null = null;
  let to: string;
  let killed: string | null = null;
  let killedAt: number | null = null;
  if (kind === 'planned' && setup === 'A') {
    const lines: string[] = [];
    const out = new Writable({
      write(chunk, _e, done) {
        lines.push(...String(chunk).trimEnd().split('\n'));
        done();
      },
    });
    if (CMD === 'process') lines.push(...(await switchoverProcess(configPath as string, t0)));
    else await runSwitchover({ config: configPath as string, cluster: 'demo', timeoutSeconds: 30 }, out);
    commandLines = lines;
    const at = (re: RegExp) =>
      Number(/\[\s*(\d+) ms\]/.exec(lines.find((l) => re.test(l)) ?? '')?.[1] ?? NaN);
    patroniMs = at(/ is writable /) - at(/^\[\s*\d+ ms\] POST /);
    pauseMs = Number(/PgBouncer paused for (\d+) ms/.exec(lines.join('\n'))?.[1] ?? NaN);
    to = await cluster.waitForLeader({ not: from });
  } else if (kind === 'planned') {
    to = await cluster.switchover();
    patroniMs = Date.now() - t0;
  } else {
    killed = await cluster.killLeader();
    killedAt = Date.now();
    to = await cluster.waitForLeader({ not: killed, timeoutMs: 90_000 });
  }
  const toPort = cluster.nodes.find((n) => n.name === to)?.pgPort as number;
  const deadline = Date.now() + 60_000;
  while (true) {
    await sleep(500);
    const probe = await viaPooler(bed);
    if (probe === toPort || Date.now() > deadline) break;
  }
  await sleep(1000);
  const report: LoadReport = await load.stop();
  const samples = await pooled.stop();
  const directAcks: DirectAck[] = await direct.stop();
  if (killed) {
    await cluster.startNode(killed);
  }
  const first = report.firstAnswerAt[toPort];
  const fromPort = cluster.nodes.find((n) => n.name === from)?.pgPort as number;
  const firstDirect =
    directAcks
      .filter((a) => a.port === toPort && a.ackAt >= t0)
      .map((a) => a.ackAt)
      .sort((a, b) => a - b)[0] ?? null;
  const lastOld =
    firstDirect === null
      ? null
      : (directAcks
          .filter((a) => a.port === fromPort && a.ackAt < firstDirect)
          .map((a) => a.ackAt)
          .sort((a, b) => b - a)[0] ?? null);
  // Held statements count from the command's first step line on (it is about to pause): before it, a
  // statement slowed ≥ 50 ms by the command's own process start-up on this 2-core machine is not a pause.
  const started = Number(/\[\s*(\d+) ms\]/.exec(commandLines[0] ?? '')?.[1] ?? 0);
  const cp = clientPause(samples, t0 + started, toPort);
  const rel = (v: number | null | undefined) => (v === null || v === undefined ? null : v - t0);
  const cmd = (re: RegExp) => {
    const v = Number(/\[\s*(\d+) ms\]/.exec(commandLines.find((l) => re.test(l)) ?? '')?.[1] ?? NaN);
    return Number.isNaN(v) ? null : v;
  };
  // The old leader's own log (Patroni's asctime, this machine's clock in UTC; PostgreSQL's lines go to the
  // same log): where Patroni's time between the POST and the stop goes.
  const oldLog = cluster.logTail(from, 400).split('\n');
  const logged = (re: RegExp) => {
    for (const line of oldLog) {
      const m = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)[,.](\d{3})/.exec(line);
      if (!m || !re.test(line)) continue;
      const at = Date.parse(`${m[1]}T${m[2]}.${m[3]}Z`);
      if (at >= t0 - 50) return at - t0;
    }
    return null;
  };
  // Patroni logs each member check ("Got response from <member>"): the REST handler's before it writes
  // the failover key, the HA loop's before it demotes.
  const checks: number[] = [];
  for (const line of oldLog) {
    const m = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)[,.](\d{3})/.exec(line);
    if (m && /Got response from/.test(line)) {
      const at = Date.parse(`${m[1]}T${m[2]}.${m[3]}Z`) - t0;
      if (at >= -50) checks.push(at);
    }
  }
  const demoting = logged(/Demoting self/);
  // The agent logs its handover as one JSON line when it releases the key: CHECKPOINT, stop and release
  // durations; stepped back from the line's time they give when each began.
  const handover = (() => {
    for (const line of oldLog) {
      if (!line.includes('switchover: leader key released')) continue;
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const [at, c, st, r] = [o['time'], o['checkpointMs'], o['stopMs'], o['releaseMs']].map(Number);
        if ([at, c, st, r].every(Number.isFinite) && (at as number) >= t0 - 50)
          return {
            stopped: (at as number) - (r as number) - t0,
            stopping: (at as number) - (r as number) - (st as number) - t0,
            checkpointing: (at as number) - (r as number) - (st as number) - (c as number) - t0,
          };
      } catch {
        // not a JSON line
      }
    }
    return null;
  })();
  const timeline: Record<string, number | null> = {
    'client: first statement held': rel(cp?.heldAt),
    'cmd: paused': cmd(/^\[\s*\d+ ms\] paused /),
    'cmd: POST': cmd(/^\[\s*\d+ ms\] POST /),
    'patroni: request received': logged(/received switchover request/),
    'patroni: first member check answered': checks[0] ?? null,
    'patroni: last member check before demoting':
      checks.filter((c) => demoting === null || c <= demoting).at(-1) ?? null,
    'patroni: demoting (CHECKPOINT next)': demoting,
    'postgres: checkpoint starting': logged(/checkpoint starting: immediate/),
    'postgres: fast shutdown': logged(/received fast shutdown request/),
    ...(handover
      ? {
          'agent: CHECKPOINT starts': handover.checkpointing,
          'agent: CHECKPOINT done, fast shutdown starts': handover.stopping,
          'agent: PostgreSQL stopped': handover.stopped,
        }
      : {}),
    'old primary: last direct write': rel(lastOld),
    'cmd: key released': cmd(/leader key released/),
    'cmd: key taken': cmd(/holds the leader key/),
    'new primary: first direct write': rel(firstDirect),
    'cmd: writable': cmd(/ is writable /),
    'cmd: done (resumed)': cmd(/ done: /),
    'client: first answer by new primary': rel(cp?.answeredAt),
  };
  const result: EventResult = {
    setup,
    kind,
    index,
    from,
    to,
    statements: report.statements,
    errors: report.errors.length,
    readOnlyErrors: report.errors.filter((e) => /read-only/.test(e)).length,
    errorsAfterKill:
      killedAt === null
        ? null
        : report.errors.filter(
            (message, i) =>
              (report.errorStartedAt[i] ?? 0) > (killedAt as number) && !isInFlightError(message),
          ).length,
    maxWaitMs: report.maxLatencyMs,
    totalWaitMs: report.totalWaitMs,
    recoveredMs: first === undefined ? null : first - t0,
    outageMs: report.maxOutageMs,
    patroniMs,
    pauseMs,
    clientPausedMs: cp?.pausedMs ?? null,
    windowMs: lastOld !== null && firstDirect !== null ? firstDirect - lastOld : null,
    timeline,
    sampleErrors: [...new Set(report.errors)].slice(0, 5),
    commandLines,
    // The first 50 are enough to see when errors happen; B produces hundreds per event.
    errorLog: report.errors.slice(0, 50).map((message, i) => ({
      atMs: (report.errorAt[i] ?? t0) - t0,
      startedMs: (report.errorStartedAt[i] ?? t0) - t0,
      message,
    })),
  };
  log(
    `${setup} ${kind} #${index} ${from}→${to}: ${result.errors} errors (+${samples.filter((x) => x.error).length} pooled-writer errors), client paused ${result.clientPausedMs} ms, window ${result.windowMs} ms, outage ${result.outageMs} ms, recovered ${result.recoveredMs} ms`,
  );
  log(`  timeline (ms since the command started): ${JSON.stringify(timeline)}`);
  result.errors += samples.filter((x) => x.error).length;
  return result;
}

async function setupA(etcd: EtcdCluster, leaderPort: number) {
  const bed = await startPgBouncerBed(
    `[databases]\napp = host=127.0.0.1 port=${leaderPort} dbname=postgres\n`,
  );
  if (HA === 'agent') {
    // The agent's pg_hba asks for a password on loopback: PgBouncer logs in with the one in its userlist.
    writeFileSync(
      join(bed.dir, 'userlist.txt'),
      `"postgres" "${AGENT_SUPERUSER.password}"\n"pgbouncer_admin" ""\n`,
      { mode: 0o644 },
    );
    await adminQuery({ port: bed.bouncer.port, database: 'pgbouncer', user: 'pgbouncer_admin' }, 'RELOAD');
  }
  const group = ProcessGroup.create('bench-router');
  const apiPort = await freePort();
  // routing.writable_probe left at its default (auto: no password here, so GET /patroni)
  const configPath = writeBedRouterConfig(bed, { etcdEndpoints: etcd.endpoints, apiPort });
  const proc = group.spawn({
    name: 'router',
    command: process.execPath,
    args: ['--import', import.meta.resolve('tsx'), 'src/cli/run.ts', 'route', '--config', configPath],
    cwd: process.cwd(),
  });
  await waitFor(
    async () => proc.isRunning() && (await httpRequest(`http://127.0.0.1:${apiPort}/status`)).status === 200,
    {
      what: 'router /status',
      timeoutMs: 20_000,
      diagnose: () => group.logTail('router', 30),
    },
  );
  return {
    bed,
    configPath,
    async stop() {
      await group.cleanup();
      await bed.stop();
    },
  };
}

async function setupB(cluster: Lab) {
  const primaryPort = await freePort();
  const bedDir = await startPgBouncerBed(
    `[databases]\napp = host=127.0.0.1 port=${primaryPort} dbname=postgres\n`,
  );
  let haproxy: HaproxyInstance | null = null;
  try {
    haproxy = await startHaproxy({
      config: patroniHaproxyConfig({
        nodes: cluster.nodes,
        primaryPort,
        statsSocket: join(bedDir.dir, 'haproxy.sock'),
        checkInter: '3s',
      }),
    });
  } catch (err) {
    await bedDir.stop();
    throw err;
  }
  return {
    bed: bedDir,
    configPath: null,
    async stop() {
      await haproxy?.stop();
      await bedDir.stop();
    },
  };
}

function table(results: EventResult[]): string {
  const rows: string[] = [
    '| setup | event | n | client errors: total / median / p99 per event | of which not in flight | read-only errors | outage ms: median / p99 | max client wait ms: median / p99 | total wait ms per event: median / p99 | recovered ms: median / p99 | Patroni time ms: median | pause ms: median |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const setup of ['A', 'B', 'C'] as Setup[]) {
    for (const kind of ['planned', 'unplanned'] as Kind[]) {
      const r = results.filter((x) => x.setup === setup && x.kind === kind);
      if (r.length === 0) continue;
      const f = (v: number | null) => (v === null || Number.isNaN(v) ? '–' : String(Math.round(v)));
      const col = (pick: (x: EventResult) => number | null) => {
        const vals = r.map(pick).filter((v): v is number => v !== null && !Number.isNaN(v));
        return `${f(quantile(vals, 0.5))} / ${f(quantile(vals, 0.99))}`;
      };
      const errors = r.map((x) => x.errors);
      rows.push(
        `| ${setup} | ${kind} | ${r.length} | ${errors.reduce((a, b) => a + b, 0)} / ${f(quantile(errors, 0.5))} / ${f(quantile(errors, 0.99))} | ${kind === 'unplanned' ? r.reduce((a, x) => a + (x.errorsAfterKill ?? 0), 0) : '–'} | ${r.reduce((a, x) => a + x.readOnlyErrors, 0)} | ${col((x) => x.outageMs)} | ${col((x) => x.maxWaitMs)} | ${col((x) => x.totalWaitMs)} | ${col((x) => x.recoveredMs)} | ${f(
          quantile(
            r.map((x) => x.patroniMs).filter((v): v is number => v !== null && !Number.isNaN(v)),
            0.5,
          ),
        )} | ${f(
          quantile(
            r.map((x) => x.pauseMs).filter((v): v is number => v !== null && !Number.isNaN(v)),
            0.5,
          ),
        )} |`,
      );
    }
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const started = new Date();
  log(`pooler-switchover: setups ${SETUPS.join(',')}, ${PLANNED} planned + ${UNPLANNED} unplanned each`);
  const etcd = await startEtcd();
  let cluster: Lab | null = null;
  const loadAtStart = machineInfo().loadavg;
  const results: EventResult[] = [];
  try {
    cluster = await startLab(etcd);
    const leader = await cluster.waitForLeader();
    await cluster.sql(leader, 'create table if not exists t (id bigserial primary key, v int)');
    await cluster.sql(
      leader,
      'create table if not exists switchyard_writes (id bigserial primary key, at timestamptz default now())',
    );
    for (const setup of SETUPS) {
      const leaderNow = await cluster.waitForLeader();
      const leaderPort = cluster.nodes.find((n) => n.name === leaderNow)?.pgPort as number;
      const env = setup === 'B' ? await setupB(cluster) : await setupA(etcd, leaderPort);
      try {
        for (let i = 1; i <= PLANNED; i++)
          results.push(await runEvent(setup, 'planned', i, cluster, env.bed, env.configPath));
        for (let i = 1; i <= UNPLANNED; i++)
          results.push(await runEvent(setup, 'unplanned', i, cluster, env.bed, env.configPath));
      } finally {
        await env.stop();
      }
    }
  } finally {
    await cluster?.stop();
    await etcd.stop();
  }
  const md = [
    `# Pooler switchover benchmark`,
    '',
    `Run ${started.toISOString()} on one 2-core machine shared with other work (loopback, Patroni ${STACK_VERSIONS.patroni} ttl 10 / loop_wait 2 / retry_timeout 4,`,
    `PgBouncer ${STACK_VERSIONS.pgbouncer} transaction mode with server_login_retry 1 and query_wait_timeout 60, 8 writers every 20 ms + 4 every 10 ms${LONG_TX > 0 ? ` + 1 client with ${LONG_TX * 1000} ms transactions` : ', no long transactions'}). HA layer: ${HA === 'agent' ? "Switchyard's agent" : `Patroni ${STACK_VERSIONS.patroni}${BEFORE_STOP ? ' with the before_stop hook (stop handshake)' : ''}`}.`,
    'A: PgBouncer managed by the Switchyard router (default configuration: writable_probe auto, i.e. GET /patroni without a login; liveness on); planned events via `switchyard switchover`.',
    "C (when run): A's router, planned via `patronictl switchover --force` (no `switchyard switchover`).",
    'B: PgBouncer → HAProxy 2.6 with Patroni checks (`GET /primary`, inter 3s fall 3 rise 2, on-marked-down shutdown-sessions); planned via `patronictl switchover --force`.',
    'Unplanned (both): SIGKILL of the leader\'s Patroni and PostgreSQL; "not in flight" counts errors of statements (or reconnects) begun after SIGKILL reached PostgreSQL that no server was running (PgBouncer failed them itself, e.g. "server login has been failing"). p99 of ≤ 10 samples is the maximum.',
    '',
    table(results),
    '',
    ...(['A', 'B', 'C'] as Setup[]).flatMap((setup) => {
      const r = results.filter((x) => x.setup === setup && x.kind === 'planned');
      if (r.length === 0) return [];
      const paused = summarize(r.flatMap((x) => (x.clientPausedMs === null ? [] : [x.clientPausedMs])));
      const window = summarize(r.flatMap((x) => (x.windowMs === null ? [] : [x.windowMs])));
      const excess = summarize(
        r.flatMap((x) =>
          x.clientPausedMs === null || x.windowMs === null ? [] : [x.clientPausedMs - x.windowMs],
        ),
      );
      return [
        `${setup} planned, from outside (median / p99 / max, n=${paused.n}): client paused ${fmtSummary(paused)}; no-writable window ${fmtSummary(window)}; paused − window ${fmtSummary(excess)}; client errors ${r.reduce((a, x) => a + x.errors, 0)}.`,
        '',
      ];
    }),
    `Load average at the start: ${loadAtStart}; at the end: ${machineInfo().loadavg}.`,
    '',
    'Per event (JSON): `' + JSON_OUT + '`.',
    '',
  ].join('\n');
  mkdirSync(dirname(JSON_OUT), { recursive: true });
  writeFileSync(JSON_OUT, JSON.stringify({ started: started.toISOString(), results }, null, 2));
  writeFileSync(MD_OUT, md);
  process.stdout.write(`${md}\n`);
}

runBench(main);
