import { loopbackClient } from '../../test/harness/sql.js';
import { ClientLoops } from './client-loops.js';

/** One attempt of the heartbeat client: when it started, whether it committed, and where. */
export interface HeartbeatAttempt {
  at: number;
  /** When the attempt ended (committed or failed). */
  doneAt: number;
  isOk: boolean;
  /** Port of the server that committed the INSERT (`inet_server_port()`), null on failure. */
  port: number | null;
  error: string | null;
}

/**
 * The public patroni-routing-bench's client method (its `tool/clients/failover/heartbeat.py`): every
 * attempt opens a new connection (`connect_timeout` 5 s), creates the table if missing, INSERTs one
 * row and closes; then it sleeps `intervalMs` (100 ms). No pooling, no retry inside an attempt.
 * Bounded by `stop()` and by `maxMs`.
 */
export class HeartbeatClient extends ClientLoops<HeartbeatAttempt> {
  constructor(
    private readonly port: number,
    private readonly password: string,
    private readonly intervalMs = 100,
    private readonly connectTimeoutMs = 5000,
    maxMs = 600_000,
  ) {
    super(1, maxMs);
  }

  get attempts(): HeartbeatAttempt[] {
    return this.records;
  }

  protected async loop(deadline: number): Promise<void> {
    let sequence = 0;
    while (this.isRunning(deadline)) {
      const at = Date.now();
      sequence++;
      const client = loopbackClient({
        port: this.port,
        password: this.password,
        connectTimeoutMs: this.connectTimeoutMs,
        applicationName: 'bench-heartbeat',
      });
      try {
        await client.connect();
        await client.query(
          'CREATE TABLE IF NOT EXISTS bench_heartbeat (id bigserial primary key, ts timestamptz not null default now(), client_ts timestamptz not null, sequence bigint not null)',
        );
        const r = await client.query<{ port: number }>(
          'INSERT INTO bench_heartbeat (client_ts, sequence) VALUES ($1, $2) RETURNING inet_server_port() AS port',
          [new Date(at), sequence],
        );
        this.records.push({
          at,
          doneAt: Date.now(),
          isOk: true,
          port: Number(r.rows[0]?.port ?? 0),
          error: null,
        });
      } catch (err) {
        this.records.push({
          at,
          doneAt: Date.now(),
          isOk: false,
          port: null,
          error: (err as Error).message.slice(0, 200),
        });
      } finally {
        await client.end().catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, this.intervalMs));
    }
  }
}

/**
 * patroni-routing-bench's downtime: the first failed attempt at or after `from` → the first successful
 * attempt after it (attempt start times). 0 when nothing failed; null when it never recovered.
 */
export function heartbeatDowntime(
  attempts: readonly HeartbeatAttempt[],
  from: number,
): { downtimeMs: number | null; failures: number; readOnlyFailures: number; firstFailureAt: number | null } {
  const after = attempts.filter((a) => a.at >= from);
  const first = after.findIndex((a) => !a.isOk);
  if (first < 0) return { downtimeMs: 0, failures: 0, readOnlyFailures: 0, firstFailureAt: null };
  const failedAt = (after[first] as HeartbeatAttempt).at;
  const recovered = after.slice(first).find((a) => a.isOk);
  const failures = after.filter((a) => !a.isOk);
  return {
    downtimeMs: recovered ? recovered.at - failedAt : null,
    failures: failures.length,
    readOnlyFailures: failures.filter((a) => /read-only transaction/.test(a.error ?? '')).length,
    firstFailureAt: failedAt,
  };
}

/**
 * The longest time without an acknowledged INSERT around an event: between consecutive commits (their
 * end times) from `from` on. Catches what the downtime above cannot: an endpoint that holds new
 * connections (HAProxy queueing while no server is up) fails no attempt, yet commits nothing.
 */
export function longestAckGap(attempts: readonly HeartbeatAttempt[], from: number): number {
  const acks = attempts.filter((a) => a.isOk).map((a) => a.doneAt);
  let last = acks.filter((t) => t < from).at(-1) ?? from;
  let worst = 0;
  for (const t of acks.filter((x) => x >= from)) {
    worst = Math.max(worst, t - last);
    last = t;
  }
  return worst;
}
