import { ReconnectingClient } from '../../test/harness/sql.js';
import { ClientLoops, pace } from './client-loops.js';

/** One statement sent through a pooler: when it was sent, when it ended, and who committed it. */
export interface PooledSample {
  sentAt: number;
  doneAt: number;
  /** `inet_server_port()` of the committing server; null on error. */
  port: number | null;
  error: string | null;
  /** The committed row's `id` when the statement returns one (lost-write accounting). */
  id?: number;
}

/** Optional login and statement (default: `insert into t (v) values (2)`, no password). */
export interface PooledWriterOptions {
  readonly password?: string;
  /** Must return `port` (`inet_server_port()`), and may return `id`. */
  readonly sql?: string;
  /** Client-side statement timeout (default 60 s). */
  readonly queryTimeoutMs?: number;
}

/**
 * Writers through a pooler, each on its own client connection, every `intervalMs`; every statement is
 * kept with its client-side send and answer time, so a pause is seen the way clients see it (the first
 * statement held → the first statement answered by the new primary). Bounded by `stop()` and `maxMs`.
 */
export class PooledWriters extends ClientLoops<PooledSample> {
  constructor(
    private readonly port: number,
    private readonly database: string,
    clients = 4,
    private readonly intervalMs = 10,
    maxMs = 300_000,
    private readonly options: PooledWriterOptions = {},
  ) {
    super(clients, maxMs);
  }

  get samples(): PooledSample[] {
    return this.records;
  }

  protected async loop(deadline: number): Promise<void> {
    const client = new ReconnectingClient({
      port: this.port,
      database: this.database,
      ...(this.options.password !== undefined ? { password: this.options.password } : {}),
      connectTimeoutMs: 5000,
      queryTimeoutMs: this.options.queryTimeoutMs ?? 60_000,
      applicationName: 'bench-pooled-writer',
    });
    while (this.isRunning(deadline)) {
      const sentAt = Date.now();
      try {
        const r = await (
          await client.connected()
        ).query<{ port: number; id?: string }>(
          this.options.sql ?? 'insert into t (v) values (2) returning inet_server_port() as port',
        );
        const row = r.rows[0];
        this.records.push({
          sentAt,
          doneAt: Date.now(),
          port: Number(row?.port ?? 0),
          error: null,
          ...(row?.id !== undefined ? { id: Number(row.id) } : {}),
        });
      } catch (err) {
        this.records.push({
          sentAt,
          doneAt: Date.now(),
          port: null,
          error: (err as Error).message.slice(0, 200),
        });
        client.drop();
      }
      await pace(sentAt, this.intervalMs);
    }
    client.drop();
  }
}

/**
 * The pause as clients saw it: the first statement sent at or after `from` that took ≥ `heldMs` → the
 * first statement answered by `newPort` (answer time). Null when no statement was held or none reached
 * the new primary.
 */
export function clientPause(
  samples: readonly PooledSample[],
  from: number,
  newPort: number,
  heldMs = 50,
): { heldAt: number; answeredAt: number; pausedMs: number } | null {
  const held = samples
    .filter((s) => s.sentAt >= from && s.doneAt - s.sentAt >= heldMs)
    .reduce<number | null>((a, s) => (a === null || s.sentAt < a ? s.sentAt : a), null);
  const answered = samples
    .filter((s) => s.port === newPort && s.doneAt >= from)
    .reduce<number | null>((a, s) => (a === null || s.doneAt < a ? s.doneAt : a), null);
  if (held === null || answered === null) return null;
  return { heldAt: held, answeredAt: answered, pausedMs: answered - held };
}
