import type pg from 'pg';
import { lazyModule } from '../../util/lazy.js';
import type { RouterConfig } from '../../config/router.js';
import { PatroniRest } from '../../rest/patroni.js';
import type { RouteLeader } from '../../route/view.js';
import { describeError } from '../../errors.js';

/** pg is loaded by the first SQL probe only (the default probe is REST). */
const loadPg = lazyModule<typeof pg>('pg');

export type ProbeMethod = 'member' | 'sql' | 'rest';

export interface ProbeSettings {
  method: ProbeMethod;
  intervalMs: number;
  timeoutMs: number;
  user: string;
  dbname: string;
  password: string | undefined;
}

/**
 * The writable probe of a router config (`routing.writable_probe`). `auto` (the default) becomes `sql`
 * when a password is configured (a login exists) and `rest` otherwise: both read the live
 * `pg_is_in_recovery()`, neither waits for the next member-key write.
 */
export function probeSettingsOf(config: RouterConfig): ProbeSettings {
  const p = config.routing.writable_probe;
  return {
    method: p.method === 'auto' ? (p.password === undefined ? 'rest' : 'sql') : p.method,
    intervalMs: p.interval_ms,
    timeoutMs: p.timeout_ms,
    user: p.user,
    dbname: p.dbname,
    password: p.password,
  };
}

export type ProbeOutcome = { isWritable: true } | { isWritable: false; reason: string };

/**
 * Reads Patroni's `GET /patroni` document (untrusted): writable when `state` is `running` and `role` is
 * `primary` (4.x) or `master` (3.x). Patroni 3.0.2 and 4.0.7 take that role from `pg_is_in_recovery()`
 * queried on each request, and report state `unknown` with the cached role when the query fails, so a
 * `running` primary here is a server that has left recovery. (`GET /primary` is not used: it answers
 * 200 as soon as Patroni holds the leader lock, before promotion finished.) Pure.
 */
export function judgePatroniStatus(statusCode: number, body: unknown): ProbeOutcome {
  if (statusCode !== 200) return { isWritable: false, reason: `GET /patroni answered ${statusCode}` };
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { isWritable: false, reason: 'GET /patroni: expected a JSON object' };
  const { role, state } = body as { role?: unknown; state?: unknown };
  if (state !== 'running')
    return { isWritable: false, reason: `GET /patroni reports state ${JSON.stringify(state ?? null)}` };
  if (role !== 'primary' && role !== 'master')
    return { isWritable: false, reason: `GET /patroni reports role ${JSON.stringify(role ?? null)}` };
  return { isWritable: true };
}

/** The `GET /patroni` URL of a leader's REST API. */
export function patroniStatusUrl(api: { host: string; port: number }): string {
  return `http://${api.host.includes(':') ? `[${api.host}]` : api.host}:${api.port}/patroni`;
}

let rest: PatroniRest | undefined;

/** The probe's REST client (no auth: `GET /patroni` is a read), made on first use. */
function probeRest(): PatroniRest {
  rest ??= new PatroniRest({ timeoutMs: 1000 });
  return rest;
}

/** Largest `GET /patroni` body read (a real one is well under 2 KiB). */
const MAX_STATUS_BYTES = 64 * 1024;

/**
 * One writable check of a leader. `sql`: `pg_is_in_recovery()` is false (the server accepts writes).
 * `rest`: Patroni's `GET /patroni` reports the live role primary (see `judgePatroniStatus`).
 */
export async function probeOnce(
  leader: RouteLeader,
  settings: ProbeSettings,
  attemptTimeoutMs: number,
): Promise<ProbeOutcome> {
  if (settings.method === 'rest') {
    if (!leader.api) return { isWritable: false, reason: 'leader has no api_url' };
    try {
      const answer = await probeRest().request(patroniStatusUrl(leader.api), 'GET', '/patroni', {
        timeoutMs: attemptTimeoutMs,
      });
      if (answer.body.length > MAX_STATUS_BYTES)
        return { isWritable: false, reason: `GET /patroni: body over ${MAX_STATUS_BYTES} bytes` };
      let body: unknown = null;
      try {
        body = JSON.parse(answer.body);
      } catch {
        body = null;
      }
      return judgePatroniStatus(answer.status, body);
    } catch (err) {
      // a RestError: "GET <url> failed: <cause>" or "GET <url>: no answer within <n> ms"
      return { isWritable: false, reason: (err as Error).message };
    }
  }
  const client = new (loadPg().Client)({
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

/** How long a new leader is probed every `intervalMs`; after that, every SLOW_INTERVAL_MS at most. */
const FAST_PHASE_MS = 5000;
const SLOW_INTERVAL_MS = 100;

/** Probes of one leader that may be in flight at once (see {@link probeUntilWritable}). */
const MAX_IN_FLIGHT = 3;

/**
 * Probes a new leader every `intervalMs` (for the first 5 s, then every 100 ms: a standby leader or a
 * promotion stuck for minutes is not asked 50 times a second) until it accepts writes, the deadline
 * passes, or `isCurrent()` says the leadership changed. A probe starts on every tick even while earlier
 * ones are still out (at most {@link MAX_IN_FLIGHT}): an answer takes 10–40 ms on a busy node, and
 * waiting for each before the next left the promotion unseen for up to two answers (14–79 ms measured
 * with the agent). The first writable answer wins; bounded in time and count.
 */
export function probeUntilWritable(
  leader: RouteLeader,
  settings: ProbeSettings,
  isCurrent: () => boolean,
): Promise<ProbeOutcome> {
  const started = Date.now();
  const deadline = started + settings.timeoutMs;
  const fast = Math.max(1, settings.intervalMs);
  const slow = Math.max(fast, SLOW_INTERVAL_MS);
  const maxAttempts =
    Math.ceil(Math.min(settings.timeoutMs, FAST_PHASE_MS) / fast) +
    Math.ceil(Math.max(0, settings.timeoutMs - FAST_PHASE_MS) / slow) +
    1;
  return new Promise((resolve) => {
    let last: { isWritable: false; reason: string } = { isWritable: false, reason: 'not probed' };
    let attempts = 0;
    let inFlight = 0;
    let isSettled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: ProbeOutcome) => {
      if (isSettled) return;
      isSettled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const isOver = () => attempts >= maxAttempts || Date.now() >= deadline || !isCurrent();
    const giveUp = () =>
      settle({ isWritable: false, reason: `not writable after ${settings.timeoutMs} ms (${last.reason})` });
    const tick = () => {
      if (isSettled) return;
      if (isOver()) {
        if (inFlight === 0) (isCurrent() ? giveUp : () => settle(last))();
        return;
      }
      if (inFlight < MAX_IN_FLIGHT) {
        attempts++;
        inFlight++;
        void probeOnce(leader, settings, Math.min(1000, Math.max(100, deadline - Date.now())))
          .catch((err: unknown): ProbeOutcome => ({ isWritable: false, reason: describeError(err) }))
          .then((r) => {
            inFlight--;
            if (r.isWritable) return settle(r);
            last = r;
            if (isOver() && inFlight === 0) (isCurrent() ? giveUp : () => settle(last))();
          });
      }
      timer = setTimeout(tick, Date.now() - started < FAST_PHASE_MS ? fast : slow);
    };
    tick();
  });
}
