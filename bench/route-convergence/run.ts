// Route convergence: how fast the routed endpoint follows a new leader, side by side with Patroni-style
// HAProxy checks, at 500 clusters, and in file + reload mode (issue 3's benchmark, issue 2's figure).
//   node --import tsx bench/route-convergence/run.ts [--switchovers 10] [--failovers 3] [--scale-clusters 500]
//        [--scale-changes 60] [--back-to-back 20] [--churn 600] [--file-changes 12] [--parts patroni,scale,file] [--out file.json]
//        [--dcs etcd3|etcd]   (etcd: Patroni's `etcd:` section and the router's v2 source; SWITCHYARD_STACK=trixie for Patroni 4.0.7)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { runFilePart, type FilePartResult } from './file-part.js';
import { runPatroniPart, type EventKind, type PatroniPartResult } from './patroni-part.js';
import { runScalePart, type ScalePartResult } from './scale-part.js';
import { buildRouter } from './router.js';
import { fmt, fmtSummary, machineInfo, markdownTable, summarize, type Summary } from '../lib/stats.js';
import { runBench } from '../lib/main.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 0 || v > 100_000)
    throw new Error(`--${name}: expected a whole number, got ${process.argv[i + 1]}`);
  return v;
}
function stringArg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const SWITCHOVERS = arg('switchovers', 10);
const FAILOVERS = arg('failovers', 3);
const CLUSTERS = arg('scale-clusters', 500);
const SCALE_CHANGES = arg('scale-changes', 60);
const CHURN = arg('churn', 600);
const BACK_TO_BACK = arg('back-to-back', 20);
const FILE_CHANGES = arg('file-changes', 12);
const PARTS = new Set(stringArg('parts', 'patroni,scale,file').split(','));
const DCS_API = stringArg('dcs', 'etcd3') as 'etcd3' | 'etcd';
if (DCS_API !== 'etcd3' && DCS_API !== 'etcd')
  throw new Error(`--dcs: expected etcd3 or etcd, got ${DCS_API}`);
const DATE = new Date().toISOString().slice(0, 10);
const OUT = stringArg('out', `bench/results/route-convergence-${DATE}.json`);

const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${line}\n`);

function patroniTables(p: PatroniPartResult): string {
  const s = p.summary;
  const rows: string[][] = [];
  const kinds: Array<[EventKind | 'all', string]> = [
    ['switchover', 'switchovers'],
    ['failover', 'failovers (kill -9)'],
    ['all', 'all events'],
  ];
  const measures = [
    ['route lag', 'routeLag'],
    ['write outage', 'outage'],
  ] as const;
  for (const [what, m] of measures)
    for (const [k, label] of kinds)
      rows.push([
        `${what}, ${label} (median / p99 / max)`,
        ...(['A', 'P', 'B'] as const).map((l) => fmtSummary(s[l][k][m])),
      ]);
  const part = (name: 'A' | 'B', f: 'haproxyUpLagMs' | 'clientAfterUpMs') =>
    fmtSummary(
      summarize(
        p.events.flatMap((e) => (e.listeners[name][f] === null ? [] : [e.listeners[name][f] as number])),
      ),
    );
  rows.push([
    '… of which: HAProxy runs the new primary − first direct write (all events)',
    part('A', 'haproxyUpLagMs'),
    '–',
    part('B', 'haproxyUpLagMs'),
  ]);
  rows.push([
    '… of which: first ack through the listener − HAProxy runs it (all events)',
    part('A', 'clientAfterUpMs'),
    '–',
    part('B', 'clientAfterUpMs'),
  ]);
  rows.push([
    'read-only errors (total)',
    String(p.totals.A.readOnlyErrors),
    String(p.totals.P.readOnlyErrors),
    String(p.totals.B.readOnlyErrors),
  ]);
  const kindsOf = (e: Record<string, number>) =>
    Object.entries(e)
      .filter(([k]) => k !== 'read-only')
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || '0';
  rows.push([
    'other errors by kind (total)',
    kindsOf(p.totals.A.errors),
    kindsOf(p.totals.P.errors),
    kindsOf(p.totals.B.errors),
  ]);
  rows.push([
    'writes acknowledged by a node not holding the leader key',
    String(p.totals.A.nonHolderAcks),
    String(p.totals.P.nonHolderAcks),
    String(p.totals.B.nonHolderAcks),
  ]);
  rows.push([
    'writes acknowledged (total)',
    String(p.totals.A.acks),
    String(p.totals.P.acks),
    String(p.totals.B.acks),
  ]);
  const main = markdownTable(
    [
      'per listener',
      'A: Switchyard → HAProxy (runtime API, default probe)',
      'P: Switchyard → PgBouncer (default probe)',
      'B: Patroni-style HAProxy checks',
    ],
    rows,
  );
  const direct = markdownTable(
    ['no node accepting direct writes (median / p99 / max)', 'switchovers', 'failovers'],
    [['direct write probe on every node', fmtSummary(s.direct.switchover), fmtSummary(s.direct.failover)]],
  );
  const perEvent = markdownTable(
    [
      '#',
      'event',
      'leader',
      'command → writable',
      'direct outage',
      'router saw key',
      'A outage',
      'A lag (HAProxy + client)',
      'P outage',
      'P lag',
      'B outage',
      'B lag',
      'A ro / P ro / B ro',
    ],
    p.events.map((e, i) => [
      String(i + 1),
      e.kind,
      `${e.from}→${e.to}`,
      `${e.commandMs} ms`,
      `${fmt(e.directOutageMs ?? NaN)} ms`,
      `${fmt(e.routerSawKeyMs ?? NaN)} ms`,
      `${e.listeners.A.outageMs} ms`,
      `${fmt(e.listeners.A.routeLagMs ?? NaN)} ms (${fmt(e.listeners.A.haproxyUpLagMs ?? NaN)} + ${fmt(e.listeners.A.clientAfterUpMs ?? NaN)})`,
      `${e.listeners.P.outageMs} ms`,
      `${fmt(e.listeners.P.routeLagMs ?? NaN)} ms`,
      `${e.listeners.B.outageMs} ms`,
      `${fmt(e.listeners.B.routeLagMs ?? NaN)} ms`,
      `${e.listeners.A.readOnlyErrors} / ${e.listeners.P.readOnlyErrors} / ${e.listeners.B.readOnlyErrors}`,
    ]),
  );
  const t = (v: number | null) => (v === null ? '–' : String(v));
  const timeline = markdownTable(
    [
      '#',
      'event',
      'request → old primary: last direct write',
      'key released',
      'key taken',
      'new primary writable (direct)',
      'routed A',
      'routed P',
      'routed B',
    ],
    p.events.map((e, i) => [
      String(i + 1),
      e.kind,
      t(e.timeline.oldLastWrite),
      t(e.timeline.keyReleased),
      t(e.timeline.keyTaken),
      t(e.timeline.writable),
      t(e.timeline.routed.A),
      t(e.timeline.routed.P),
      t(e.timeline.routed.B),
    ]),
  );
  return `### Part 1: real Patroni cluster, ${p.events.length} events\n\n${main}\n\n${direct}\n\n${perEvent}\n\nTimeline per event (ms after the request, from outside):\n\n${timeline}\n\nRouter RSS (1 cluster): ${(p.routerRssKb / 1024).toFixed(0)} MB`;
}

function scaleTable(r: ScalePartResult): string {
  const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
  return `### Part 2: ${r.settings['clusters']} synthetic clusters, one router\n\n${markdownTable(
    ['measure', 'value'],
    [
      ['start → every cluster applied', `${r.startupMs} ms`],
      [
        'member churn (target / achieved)',
        `${r.churn.targetPerSecond} / ${r.churn.achievedPerSecond} writes/s (${r.churn.errors} errors)`,
      ],
      [
        'router CPU while churning',
        `${fmt(r.churn.cpuPercent, 1)} % of a core over ${fmt(r.churn.seconds)} s`,
      ],
      [
        'router JS thread while churning: running / waiting for a CPU (run queue)',
        `${r.churn.sched.runMs} ms / ${r.churn.sched.runQueueWaitMs} ms`,
      ],
      [
        'router CPU idle before churn / after churn',
        `${fmt(r.idleBefore.cpuPercent, 1)} % / ${fmt(r.idleAfter.cpuPercent, 1)} % (${r.idleAfter.seconds} s each)`,
      ],
      [
        'router RSS after start / after churn / peak (VmHWM)',
        `${mb(r.rssKb.afterStart)} / ${mb(r.rssKb.afterChurn)} / ${mb(r.rssKb.peak)}`,
      ],
      [`leader key deleted → old server down (median / p99 / max, n=${r.fence.n})`, fmtSummary(r.fence)],
      [`new leader key → runtime API applied (median / p99 / max, n=${r.route.n})`, fmtSummary(r.route)],
      [
        `release, new leader key 20 ms later → runtime API applied (n=${r.backToBack.n})`,
        fmtSummary(r.backToBack),
      ],
      ["reference: new leader key → seen by the bench's own etcd watch", fmtSummary(r.watchSeen)],
      ['polls that timed out (5 s)', String(r.timeouts)],
    ],
  )}`;
}

function fileTable(r: FilePartResult): string {
  return `### Part 3: file mode (render + check + reload), ${r.route.n} changes\n\n${markdownTable(
    ['measure', 'median', 'max'],
    [
      [
        'new leader key → connection through the listener reaches the new node',
        `${fmt(r.route.median)} ms`,
        `${fmt(r.route.max)} ms`,
      ],
      [
        'leader key deleted → connection no longer reaches the old node',
        `${fmt(r.fence.median)} ms`,
        `${fmt(r.fence.max)} ms`,
      ],
      ['polls that timed out (10 s)', String(r.timeouts), ''],
      [
        'no leader key: connections that still reached a node (total, over all changes)',
        String(r.noLeader.reduce((n, w) => n + w.nodeAnswers, 0)),
        `last ${fmt(Math.max(0, ...r.noLeader.map((w) => w.lastNodeAnswerMs ?? 0)))} ms after the delete`,
      ],
    ],
  )}`;
}

function targetsTable(
  p: PatroniPartResult | null,
  s: ScalePartResult | null,
): { text: string; rows: Array<{ target: string; measured: string; met: boolean | null }> } {
  const rows: Array<{ target: string; measured: string; met: boolean | null }> = [];
  if (p) {
    const a: Summary = p.summary.A.all.routeLag;
    const b: Summary = p.summary.B.all.routeLag;
    const pg: Summary = p.summary.P.all.routeLag;
    for (const [name, x] of [
      ['A', a],
      ['P', pg],
    ] as const) {
      rows.push({
        target: `${name} route lag median ≤ 50 ms`,
        measured: `${fmt(x.median)} ms`,
        met: x.median <= 50,
      });
      rows.push({
        target: `${name} route lag p99 ≤ 150 ms`,
        measured: `${fmt(x.p99)} ms`,
        met: x.p99 <= 150,
      });
    }
    const ratio = b.median / Math.max(1, a.median);
    rows.push({
      target: 'B median ≥ 20× A median',
      measured: `${fmt(b.median)} / ${fmt(Math.max(1, a.median))} = ${fmt(ratio, 0)}×`,
      met: ratio >= 20,
    });
    for (const name of ['A', 'P'] as const) {
      rows.push({
        target: `read-only errors through ${name} = 0`,
        measured: String(p.totals[name].readOnlyErrors),
        met: p.totals[name].readOnlyErrors === 0,
      });
      rows.push({
        target: `acks through ${name} from a non-holder = 0`,
        measured: String(p.totals[name].nonHolderAcks),
        met: p.totals[name].nonHolderAcks === 0,
      });
    }
  }
  if (s) {
    rows.push({
      target: '500 clusters: leader change applied p99 ≤ 100 ms',
      measured: `${fmt(s.route.p99)} ms (n=${s.route.n}, ${s.timeouts} timeouts)`,
      met: s.route.p99 <= 100 && s.timeouts === 0,
    });
    rows.push({
      target: 'RSS ≤ 200 MB',
      measured: `${(s.rssKb.peak / 1024).toFixed(0)} MB peak`,
      met: s.rssKb.peak <= 200 * 1024,
    });
    const idle = Math.max(s.idleBefore.cpuPercent, s.idleAfter.cpuPercent);
    rows.push({
      target: 'idle CPU ≈ 0 (taken as < 1 % of a core)',
      measured: `${fmt(idle, 1)} %`,
      met: idle < 1,
    });
  }
  const text = markdownTable(
    ['target', 'measured', 'met'],
    rows.map((r) => [r.target, r.measured, r.met === null ? '–' : r.met ? 'yes' : '**no**']),
  );
  return { text: `### Targets (issues 3 and 11)\n\n${text}`, rows };
}

async function main(): Promise<void> {
  const machine = machineInfo();
  log(`machine: ${machine.cores} cores (${machine.cpu}), load ${machine.loadavg}`);
  const started = new Date().toISOString();
  let commit = 'previous build (--no-build)';
  if (!process.argv.includes('--no-build')) {
    log('compiling the router at HEAD into .tmp/route-bench-src/dist');
    const build = await buildRouter();
    commit = build.commit;
    if (build.typeErrors) log(`tsc reported type errors (emitted anyway):\n${build.typeErrors}`);
  }
  let patroni: PatroniPartResult | null = null;
  let scale: ScalePartResult | null = null;
  let file: FilePartResult | null = null;
  if (PARTS.has('patroni'))
    patroni = await runPatroniPart({ switchovers: SWITCHOVERS, failovers: FAILOVERS, log, dcsApi: DCS_API });
  if (PARTS.has('scale'))
    scale = await runScalePart({
      clusters: CLUSTERS,
      changes: SCALE_CHANGES,
      churnRate: CHURN,
      backToBack: BACK_TO_BACK,
      log,
    });
  if (PARTS.has('file')) file = await runFilePart({ changes: FILE_CHANGES, log });
  const targets = targetsTable(patroni, scale);
  const sections = [
    `## Route convergence, ${started}, router at ${commit.slice(0, 12)} (${machine.cores} cores, load at start ${machine.loadavg}, at end ${machineInfo().loadavg})`,
    patroni ? patroniTables(patroni) : null,
    scale ? scaleTable(scale) : null,
    file ? fileTable(file) : null,
    targets.rows.length ? targets.text : null,
  ].filter((x): x is string => x !== null);
  process.stdout.write(`${sections.join('\n\n')}\n`);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(
    OUT,
    `${JSON.stringify(
      {
        bench: 'route-convergence',
        started,
        finished: new Date().toISOString(),
        routerCommit: commit,
        machine: { ...machine, loadavgAtEnd: machineInfo().loadavg },
        args: {
          switchovers: SWITCHOVERS,
          failovers: FAILOVERS,
          clusters: CLUSTERS,
          scaleChanges: SCALE_CHANGES,
          churn: CHURN,
          backToBack: BACK_TO_BACK,
          fileChanges: FILE_CHANGES,
          parts: [...PARTS],
          dcs: DCS_API,
          stack: process.env['SWITCHYARD_STACK'] ?? 'bookworm',
        },
        patroni,
        scale,
        file,
        targets: targets.rows,
      },
      null,
      2,
    )}\n`,
  );
  log(`wrote ${OUT}`);
}

runBench(main);
