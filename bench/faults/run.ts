/**
 * Fault bench (issue 13 item 5): runs `--count` faults (default 54), cycling through the kinds, against one
 * 3-node agent cluster in synchronous mode with the client, every etcd member and every node in its own
 * network namespace. Prints, per kind and in total: faults, lost acknowledged writes, double-writable
 * samples, old primary acknowledging after its key could expire, and the client-measured failover time
 * (median / p99 / max / n). Needs root (network namespaces); run it alone on the machine.
 *
 *   node --import tsx bench/faults/run.ts [--count 54] [--kinds kill9-leader-host,…] [--out results.json]
 *                                          [--max-minutes 60]
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { percentile } from '../../test/agent/faults/analyze.js';
import {
  FAULT_KINDS,
  bedLogs,
  describeResult,
  runFault,
  startFaultBed,
  type FaultKind,
  type FaultResult,
} from '../../test/agent/faults/scenarios.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const count = Number(arg('count') ?? 54);
const maxMinutes = Number(arg('max-minutes') ?? 60);
const kinds = (arg('kinds')?.split(',') ?? [...FAULT_KINDS]) as FaultKind[];
for (const k of kinds) if (!FAULT_KINDS.includes(k)) throw new Error(`--kinds: unknown fault kind "${k}"`);
const out = arg('out');

const results: (FaultResult | { kind: FaultKind; error: string })[] = [];
const load: number[][] = [];
const started = Date.now();
const bed = await startFaultBed('syfb', '10.231.2');
try {
  for (let i = 0; i < count && Date.now() - started < maxMinutes * 60_000; i++) {
    const kind = kinds[i % kinds.length] as FaultKind;
    load.push(loadavg());
    try {
      const r = await runFault(bed, kind);
      results.push(r);
      process.stdout.write(`#${i + 1} ${describeResult(r)}\n`);
      // A cluster that did not come back is the finding: keep each agent's last words for its cause.
      if (r.notes.some((n) => n.startsWith('cluster did not recover')))
        process.stdout.write(`${bedLogs(bed).replace(/^(?!---)/gm, '    ')}\n`);
    } catch (err) {
      results.push({ kind, error: String(err).slice(0, 2000) });
      process.stdout.write(`#${i + 1} ${kind}: ERROR ${String(err).slice(0, 300)}\n`);
      try {
        await bed.cluster.waitHealthy(180_000);
      } catch {
        process.stdout.write('cluster did not recover; stopping the bench\n');
        break;
      }
    }
  }
} finally {
  await bed.destroy();
}

const fmt = (v: number) => (Number.isFinite(v) ? String(Math.round(v)) : '-');
const rows: string[][] = [
  [
    'kind',
    'faults',
    'errors',
    'lost acked',
    'double-writable',
    'acked after expiry',
    'min margin',
    'agents died',
    'failover median',
    'p99',
    'max',
    'n',
  ],
];
for (const kind of [...kinds.filter((k, i) => kinds.indexOf(k) === i), 'total' as const]) {
  const mine = results.filter((r) => kind === 'total' || r.kind === kind);
  const ok = mine.filter((r): r is FaultResult => !('error' in r));
  const fo = ok.map((r) => r.failoverMs).filter((v): v is number => v !== null);
  rows.push([
    kind,
    String(mine.length),
    String(mine.length - ok.length),
    String(ok.reduce((s, r) => s + r.lost.length, 0)),
    String(ok.reduce((s, r) => s + r.doubleWritable, 0)),
    String(ok.filter((r) => !r.fencedBeforeExpiry).length),
    fmt(
      Math.min(
        ...ok.map((r) =>
          r.keyExpiry !== null && r.lastAckOldDuringFault !== null
            ? r.keyExpiry - r.lastAckOldDuringFault
            : Infinity,
        ),
      ),
    ),
    String(ok.reduce((s, r) => s + r.agentsExited.length, 0)),
    fmt(percentile(fo, 50)),
    fmt(percentile(fo, 99)),
    fmt(fo.length ? Math.max(...fo) : NaN),
    String(fo.length),
  ]);
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
for (const r of rows) process.stdout.write(`${r.map((v, c) => v.padEnd(widths[c] ?? 0)).join('  ')}\n`);
const avg = (i: number) => (load.reduce((s, l) => s + (l[i] ?? 0), 0) / Math.max(1, load.length)).toFixed(2);
process.stdout.write(
  `failover ms = client's last ack on the old primary → first ack on the new one; min margin = smallest ` +
    `(key expiry − last ack of the old primary during the fault), negative = acked after expiry; ` +
    `load average during the run (mean of 1-min samples): ${avg(0)}; minutes: ${((Date.now() - started) / 60_000).toFixed(1)}\n`,
);
if (out) writeFileSync(out, `${JSON.stringify({ results, load }, null, 2)}\n`);
