import pg from 'pg';

/** Where to connect; password optional (harness servers trust loopback). */
export interface SqlTarget {
  host?: string;
  port: number;
  user?: string;
  password?: string;
  database?: string;
}

/**
 * Opens one connection, runs `query` (simple protocol when `params` is absent, so it also works on
 * the PgBouncer admin console), closes, returns the rows. Bounded: 3 s to connect, `timeoutMs`
 * (default 10 s) for the query.
 */
export async function sqlQuery<R extends Record<string, unknown> = Record<string, unknown>>(
  target: SqlTarget,
  query: string,
  params?: unknown[],
  timeoutMs = 10_000,
): Promise<R[]> {
  const client = loopbackClient({ ...target, connectTimeoutMs: 3_000, queryTimeoutMs: timeoutMs });
  await client.connect();
  try {
    const result = params ? await client.query(query, params) : await client.query(query);
    return result.rows as R[];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A client for a harness server (127.0.0.1, user and database `postgres` unless told). Its `error`
 * events are swallowed: a server dying mid-test must not crash the process; calls still fail.
 */
export function loopbackClient(
  target: SqlTarget & { connectTimeoutMs: number; queryTimeoutMs?: number; applicationName?: string },
): pg.Client {
  const client = new pg.Client({
    host: target.host ?? '127.0.0.1',
    port: target.port,
    user: target.user ?? 'postgres',
    password: target.password,
    database: target.database ?? 'postgres',
    connectionTimeoutMillis: target.connectTimeoutMs,
    ...(target.queryTimeoutMs === undefined ? {} : { query_timeout: target.queryTimeoutMs }),
    ...(target.applicationName === undefined ? {} : { application_name: target.applicationName }),
  });
  client.on('error', () => undefined);
  return client;
}

/**
 * One connection a load client keeps between statements: opened by `connected()` when there is none
 * (then `onConnect`, e.g. a CREATE TABLE), dropped by `drop()` after an error so the next statement
 * reconnects, as an application's pool would.
 */
export class ReconnectingClient {
  private client: pg.Client | null = null;

  constructor(
    private readonly target: Parameters<typeof loopbackClient>[0],
    private readonly onConnect: (client: pg.Client) => Promise<unknown> = async () => undefined,
  ) {}

  /** The open connection, opened (and `onConnect` run) when there is none. */
  async connected(): Promise<pg.Client> {
    if (!this.client) {
      this.client = loopbackClient(this.target);
      await this.client.connect();
      await this.onConnect(this.client);
    }
    return this.client;
  }

  /** Closes the connection without waiting; the next `connected()` opens a new one. */
  drop(): void {
    void this.client?.end().catch(() => undefined);
    this.client = null;
  }
}
