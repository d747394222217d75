import pg from 'pg';
import { request } from 'undici';
import type { RouterConfig } from '../config/router.js';
import type { RouteLeader } from '../route/view.js';

export type ProbeMethod = 'member' | 'sql' | 'rest';

export interface ProbeSettings {
  method: ProbeMethod;
  intervalMs: number;
  timeoutMs: number;
  user: string;
  dbname: string;
  password: string | undefined;
}

/** The writable probe of a router config (`routing.writable_probe`). */
export function probeSettingsOf(config: RouterConfig): ProbeSettings {
  const p = config.routing.writable_probe;
  return {
    method: p.method,
    intervalMs: p.interval_ms,
    timeoutMs: p.timeout_ms,
    user: p.user,
    dbname: p.dbname,
    password: p.password,
  };
}

export type ProbeOutcome = { isWritable: true } | { isWritable: false; reason: string };

/**
 * One writable check of a leader. `sql`: `pg_is_in_recovery()` is false (the server accepts writes).
 * `rest`: Patroni `GET /primary` answers 200 — note Patroni answers 200 as soon as it holds the leader
 * lock, possibly before promotion finished, so `sql` is the stricter gate.
 */
export async function probeOnce(
  leader: RouteLeader,
  settings: ProbeSettings,
  attemptTimeoutMs: number,
): Promise<ProbeOutcome> {
  if (settings.method === 'rest') {
    if (!leader.api) return { isWritable: false, reason: 'leader has no api_url' };
    const url = `http://${leader.api.host.includes(':') ? `[${leader.api.host}]` : leader.api.host}:${leader.api.port}/primary`;
    try {
      const res = await request(url, {
        method: 'GET',
        headersTimeout: attemptTimeoutMs,
        bodyTimeout: attemptTimeoutMs,
      });
      await res.body.dump();
      return res.statusCode === 200
        ? { isWritable: true }
        : { isWritable: false, reason: `GET /primary answered ${res.statusCode}` };
    } catch (err) {
      return { isWritable: false, reason: `GET /primary failed: ${(err as Error).message}` };
    }
  }
  const client = new pg.Client({
    host: leader.host,
    port: leader.port,
    user: settings.user,
    password: settings.password,
    database: settings.dbname,
    connectionTimeoutMillis: attemptTimeoutMs,
    query_timeout: attemptTimeoutMs,
    application_name: 'switchyard-probe',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const result = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
    return result.rows[0]?.recovery === false
      ? { isWritable: true }
      : { isWritable: false, reason: 'still in recovery' };
  } catch (err) {
    return { isWritable: false, reason: `SQL probe failed: ${(err as Error).message}` };
  } finally {
    void client.end().catch(() => undefined);
  }
}

/**
 * Probes a new leader every `intervalMs` until it accepts writes, the deadline passes, or `isCurrent()`
 * says the leadership changed. Bounded in time and count.
 */
export async function probeUntilWritable(
  leader: RouteLeader,
  settings: ProbeSettings,
  isCurrent: () => boolean,
): Promise<ProbeOutcome> {
  const deadline = Date.now() + settings.timeoutMs;
  const maxAttempts = Math.ceil(settings.timeoutMs / Math.max(1, settings.intervalMs)) + 1;
  let last: ProbeOutcome = { isWritable: false, reason: 'not probed' };
  for (let attempt = 0; attempt < maxAttempts && Date.now() < deadline && isCurrent(); attempt++) {
    const started = Date.now();
    last = await probeOnce(leader, settings, Math.min(1000, Math.max(100, deadline - Date.now())));
    if (last.isWritable || !isCurrent()) return last;
    const wait = settings.intervalMs - (Date.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return last.isWritable
    ? last
    : { isWritable: false, reason: `not writable after ${settings.timeoutMs} ms (${last.reason})` };
}
