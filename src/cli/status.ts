import type { Command } from 'commander';
import { request } from 'undici';
import { loadRouterConfig } from '../config/router.js';
import { SwitchyardError } from '../errors.js';
import type { RouterStatus } from '../router/router.js';
import { leaderNote, type ClusterStatusRead } from '../router/status.js';

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  return [rule, line(headers), rule, ...rows.map(line), rule].join('\n');
}

/** Renders /status as the tables `switchyard status` prints. */
export function formatStatus(s: RouterStatus): string {
  const out: string[] = [];
  const dcs = s.dcs.connected
    ? `connected (last contact ${s.dcs.seconds_since_contact ?? '?'} s ago, revision ${s.dcs.revision})`
    : `UNREACHABLE: ${s.dcs.last_error ?? 'no read yet'}`;
  out.push(`Router: ${s.healthy ? 'healthy' : 'UNHEALTHY'} · generation ${s.generation} · etcd ${dcs}`);
  for (const r of s.reasons) out.push(`  ! ${r}`);
  out.push(`Last: ${s.last}`);
  const clusters = Object.entries(s.clusters as Record<string, ClusterStatusRead>).sort(([a], [b]) =>
    a.localeCompare(b),
  );
  out.push(
    table(
      ['Cluster', 'Leader', 'Writes to', 'Replicas (reads)', 'Gen', 'Note'],
      clusters.map(([scope, c]) => [
        scope,
        c.leader ?? '-',
        c.writer ?? '(none)',
        c.replicas.join(', ') || '-',
        String(c.generation),
        [leaderNote(c), c.invalid.length ? `${c.invalid.length} invalid value(s)` : '']
          .filter(Boolean)
          .join('; '),
      ]),
    ),
  );
  out.push(
    table(
      ['Target', 'Kind', 'Applied gen', 'Last apply', 'Error'],
      Object.entries(s.targets).map(([name, t]) => [
        name,
        t.kind,
        `${t.applied_generation}${t.applied_generation < s.generation ? ` (behind ${s.generation})` : ''}`,
        t.last_apply_ms === null ? '-' : `${t.last_apply_ms.toFixed(1)} ms`,
        t.last_error ?? '',
      ]),
    ),
  );
  if (s.timeline.length > 0) {
    const names = Object.keys(s.targets);
    const ms = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${v} ms`);
    out.push('Leader changes (times after the router read the new leader key):');
    out.push(
      table(
        ['When (UTC)', 'Cluster', 'Change', 'Writable', ...names.map((n) => `${n} routed`), 'Every target'],
        s.timeline.map((t) => [
          t.key_changed_at.replace('T', ' ').replace(/\.\d+Z$/, ''),
          t.cluster,
          `${t.from ?? '(none)'} → ${t.to ?? '(none)'}`,
          ms(t.writable_ms),
          ...names.map((n) => ms(t.applied_ms[n])),
          ms(t.all_applied_ms),
        ]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

async function fetchStatus(api: string): Promise<RouterStatus> {
  try {
    const res = await request(`http://${api}/status`, { headersTimeout: 3000, bodyTimeout: 3000 });
    return (await res.body.json()) as RouterStatus;
  } catch (err) {
    throw new SwitchyardError(
      'SY_ERR_CONFIG_UNREADABLE',
      `cannot reach the router API at ${api}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

export function register(program: Command): void {
  program
    .command('status')
    .description("print a running router's /status as tables")
    .option('-c, --config <file>', 'router configuration: its api.listen is queried')
    .option('--api <host:port>', 'router API address (default 127.0.0.1:8009)')
    .option('--json', 'print the raw JSON')
    .option('-w, --watch [seconds]', 'redraw every N seconds (default 1) until Ctrl-C')
    .addHelpText(
      'after',
      '\nExit code: 0 healthy, 1 unhealthy or unreachable (with --watch: the last state when stopped).\n' +
        'The same view as a page in a browser: http://<api.listen>/\n',
    )
    .action(async (opts: { config?: string; api?: string; json?: boolean; watch?: string | true }) => {
      let api = opts.api ?? '127.0.0.1:8009';
      if (opts.config && !opts.api) {
        const listen = loadRouterConfig(opts.config, { host: false }).api.listen;
        api = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
      }
      const render = (status: RouterStatus) =>
        opts.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status);
      if (opts.watch === undefined) {
        const status = await fetchStatus(api);
        process.stdout.write(render(status));
        process.exitCode = status.healthy ? 0 : 1;
        return;
      }
      const seconds = opts.watch === true ? 1 : Number(opts.watch);
      if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 3600)
        throw new SwitchyardError(
          'SY_ERR_CONFIG_INVALID',
          `--watch expects seconds between 0.1 and 3600, got ${JSON.stringify(opts.watch)}`,
        );
      let isStopped = false;
      process.once('SIGINT', () => (isStopped = true));
      process.once('SIGTERM', () => (isStopped = true));
      while (!isStopped) {
        let text: string;
        try {
          const status = await fetchStatus(api);
          text = render(status);
          process.exitCode = status.healthy ? 0 : 1;
        } catch (err) {
          text = `${(err as Error).message}\n`;
          process.exitCode = 1;
        }
        // Clear the screen and home the cursor on a terminal; plain output otherwise.
        const clear = process.stdout.isTTY ? '\x1b[2J\x1b[H' : '';
        process.stdout.write(
          `${clear}${new Date().toISOString()}  (every ${seconds} s, Ctrl-C to stop)\n${text}`,
        );
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      }
    });
}
