import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Nearest-rank percentile; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export interface Summary {
  n: number;
  median: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    median: percentile(values, 50),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : NaN,
  };
}

export function fmt(v: number, digits = 0): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '–';
}

export function fmtSummary(s: Summary, unit = 'ms'): string {
  return `${fmt(s.median)} / ${fmt(s.p99)} / ${fmt(s.max)} ${unit}`;
}

/** A Markdown table from a header and rows. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface ProcSample {
  at: number;
  /** utime + stime in ms. */
  cpuMs: number;
  rssKb: number;
  hwmKb: number;
  /** Main (JS) thread, from /proc/<pid>/schedstat: time running and time runnable but waiting for a CPU (ms). */
  runMs: number;
  runQueueWaitMs: number;
}

/** CPU time (utime + stime from /proc/<pid>/stat) and VmRSS/VmHWM (from /proc/<pid>/status). */
export function sampleProc(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ').map(Number) as [
    number,
    number,
  ];
  return {
    at: Date.now(),
    cpuMs: (ticks * 1000) / CLOCK_TICKS,
    rssKb: kb('VmRSS'),
    hwmKb: kb('VmHWM'),
    runMs: run / 1e6,
    runQueueWaitMs: wait / 1e6,
  };
}

/** CPU use between two samples, in percent of one core. */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  return b.at > a.at ? (100 * (b.cpuMs - a.cpuMs)) / (b.at - a.at) : NaN;
}

/** Main-thread scheduling between two samples: ms running and ms waiting on the run queue. */
export function schedDelta(a: ProcSample, b: ProcSample): { runMs: number; runQueueWaitMs: number } {
  return {
    runMs: Math.round(b.runMs - a.runMs),
    runQueueWaitMs: Math.round(b.runQueueWaitMs - a.runQueueWaitMs),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Machine context printed with every run: the numbers mean little without it. */
export function machineInfo(): { cores: number; loadavg: string; cpu: string } {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    cores: (cpuinfo.match(/^processor\s*:/gm) ?? []).length,
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
  };
}

/**
 * Reads every ~`intervalMs` until `done(value)`: ms from `since` (a `performance.now()`) to that read, or
 * null once `limitMs` passed (bounded also by `maxReads`).
 */
export async function msUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  since: number,
  o: { limitMs: number; intervalMs: number; maxReads: number },
): Promise<number | null> {
  for (let i = 0; i < o.maxReads; i++) {
    if (done(await read())) return performance.now() - since;
    if (performance.now() - since > o.limitMs) return null;
    await sleep(o.intervalMs);
  }
  return null;
}
