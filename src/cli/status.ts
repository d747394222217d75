import type { Command } from 'commander';
import { request } from 'undici';
import { loadRouterConfig } from '../config/router.js';
import { SwitchyardError } from '../errors.js';
import type { RouterStatus } from '../router/router.js';

interface ClusterRow {
  leader: string | null;
  writable: boolean;
  reason: string | null;
  writer: string | null;
  replicas: string[];
  generation: number;
  invalid: Array<{ key: string; reason: string }>;
}

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
  const clusters = Object.entries(s.clusters as Record<string, ClusterRow>).sort(([a], [b]) =>
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
        [c.writable ? '' : (c.reason ?? ''), c.invalid.length ? `${c.invalid.length} invalid value(s)` : '']
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
        `${t.appliedGeneration}${t.appliedGeneration < s.generation ? ` (behind ${s.generation})` : ''}`,
        t.lastApplyMs === null ? '-' : `${t.lastApplyMs.toFixed(1)} ms`,
        t.lastError ?? '',
      ]),
    ),
  );
  return `${out.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('status')
    .description("print a running router's /status as tables")
    .option('-c, --config <file>', 'router configuration: its api.listen is queried')
    .option('--api <host:port>', 'router API address (default 127.0.0.1:8009)')
    .option('--json', 'print the raw JSON')
    .addHelpText('after', '\nExit code: 0 healthy, 1 unhealthy or unreachable.\n')
    .action(async (opts: { config?: string; api?: string; json?: boolean }) => {
      let api = opts.api ?? '127.0.0.1:8009';
      if (opts.config && !opts.api) {
        const listen = loadRouterConfig(opts.config, { host: false }).api.listen;
        api = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
      }
      let status: RouterStatus;
      try {
        const res = await request(`http://${api}/status`, { headersTimeout: 3000, bodyTimeout: 3000 });
        status = (await res.body.json()) as RouterStatus;
      } catch (err) {
        throw new SwitchyardError(
          'SY_ERR_CONFIG_UNREADABLE',
          `cannot reach the router API at ${api}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
      process.exitCode = status.healthy ? 0 : 1;
    });
}
