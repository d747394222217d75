import pg from 'pg';

/** What clients saw during a run. Latencies are per statement, in ms. */
export interface LoadReport {
  statements: number;
  errors: string[];
  maxLatencyMs: number;
  /** Server ports that answered, in order of first appearance (`inet_server_port()`). */
  ports: number[];
  /** Per client, the longest stretch without a completed statement (ms). */
  maxGapMs: number;
  /** Sum of the latencies of statements that took 100 ms or more: time clients spent waiting. */
  totalWaitMs: number;
  /** Server port → epoch ms of its first answer. */
  firstAnswerAt: Record<number, number>;
  /** Epoch ms of each error, same order as `errors`. */
  errorAt: number[];
  /** Epoch ms at which each failed statement (or its reconnect) started, same order as `errors`. */
  errorStartedAt: number[];
  /** Longest time during which no writer statement succeeded, across all clients: the outage clients saw. */
  maxOutageMs: number;
}

/**
 * Errors PostgreSQL or PgBouncer report for a statement a server was already running when the server died
 * (its backends exit on their own a few ms after the postmaster is killed). The others are statements
 * PgBouncer could not place (e.g. "server login has been failing", "query_wait_timeout").
 */
export function isInFlightError(message: string): boolean {
  return /terminating connection due to unexpected postmaster exit|server conn crashed\?|Connection terminated unexpectedly|server closed the connection unexpectedly/.test(
    message,
  );
}

export interface LoadOptions {
  port: number;
  database: string;
  user?: string;
  clients: number;
  /** Run by each client in a loop; must return one row with a `port` column. */
  statement?: string;
  /** Pause between statements of one client (ms). */
  intervalMs?: number;
  /** Also run one client doing `BEGIN; pg_sleep(txnSeconds); COMMIT` in a loop. */
  longTransactionSeconds?: number;
  /** Client-side bound of one statement (ms), so a hung pooler ends the test instead of hanging it. */
  statementTimeoutMs?: number;
}

/**
 * Clients writing through a pooler in a loop until `stop()`. A failed statement is recorded and the
 * client reconnects. Every wait is bounded (statement timeout, connect timeout).
 */
export function startLoad(options: LoadOptions): { stop(): Promise<LoadReport> } {
  const report: LoadReport = {
    statements: 0,
    errors: [],
    maxLatencyMs: 0,
    ports: [],
    maxGapMs: 0,
    totalWaitMs: 0,
    firstAnswerAt: {},
    errorAt: [],
    errorStartedAt: [],
    maxOutageMs: 0,
  };
  let lastSuccessAny = Date.now();
  let isRunning = true;
  const timeout = options.statementTimeoutMs ?? 20_000;
  /** The error a client's connection reported while no statement was running (pg's 'error' event). */
  const idleErrors = new WeakMap<pg.Client, { message: string; at: number }>();
  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({
      host: '127.0.0.1',
      port: options.port,
      user: options.user ?? 'postgres',
      database: options.database,
      connectionTimeoutMillis: 5000,
      query_timeout: timeout,
    });
    c.on('error', (err: Error) => idleErrors.set(c, { message: err.message, at: Date.now() }));
    await c.connect();
    return c;
  };
  const loop = async (run: (c: pg.Client) => Promise<number | null>, interval: number, isMeasured = true) => {
    let client: pg.Client | null = null;
    let last = Date.now();
    while (isRunning) {
      const started = Date.now();
      try {
        client ??= await connect();
        const port = await run(client);
        const now = Date.now();
        report.statements++;
        // The long-transaction client sleeps by design: its latency is not a wait.
        if (isMeasured) {
          report.maxOutageMs = Math.max(report.maxOutageMs, now - lastSuccessAny);
          lastSuccessAny = now;
          report.maxLatencyMs = Math.max(report.maxLatencyMs, now - started);
          report.maxGapMs = Math.max(report.maxGapMs, now - last);
          if (now - started >= 100) report.totalWaitMs += now - started;
        }
        last = now;
        if (port !== null && !report.ports.includes(port)) {
          report.ports.push(port);
          report.firstAnswerAt[port] = now;
        }
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const idle = client ? idleErrors.get(client) : undefined;
        // "not queryable" only says the connection broke before this statement; keep what broke it.
        report.errors.push(
          idle && idle.at < started ? `${message} (connection error before: ${idle.message})` : message,
        );
        report.errorAt.push(Date.now());
        report.errorStartedAt.push(started);
        await client?.end().catch(() => undefined);
        client = null;
        await new Promise((r) => setTimeout(r, 50));
      }
      if (interval > 0) await new Promise((r) => setTimeout(r, interval));
    }
    await client?.end().catch(() => undefined);
  };
  const statement = options.statement ?? 'select inet_server_port() as port';
  const loops: Promise<void>[] = [];
  for (let i = 0; i < options.clients; i++) {
    loops.push(
      loop(async (c) => {
        const r = await c.query(statement);
        return Number(r.rows[0]?.port ?? NaN) || null;
      }, options.intervalMs ?? 20),
    );
  }
  if (options.longTransactionSeconds !== undefined) {
    const seconds = options.longTransactionSeconds;
    loops.push(
      loop(
        async (c) => {
          await c.query('BEGIN');
          try {
            await c.query(`select pg_sleep(${Number(seconds)})`);
            await c.query('COMMIT');
          } catch (err) {
            await c.query('ROLLBACK').catch(() => undefined);
            throw err;
          }
          return null;
        },
        0,
        false,
      ),
    );
  }
  return {
    async stop() {
      isRunning = false;
      await Promise.all(loops);
      return report;
    },
  };
}
