import { INI_NAME } from './config.js';
import type { EntryInfo } from './render.js';
import { AdminConnection, AdminError, type AdminEndpoint, type Row } from '../admin-console.js';

/** A row of `SHOW DATABASES`, the live routing truth. */
export interface LiveDatabase {
  readonly name: string;
  readonly host: string | null;
  readonly port: number | null;
  readonly dbname: string | null;
  /** `force_user`: the `user=` of the entry, or null. */
  readonly forceUser: string | null;
  readonly isPaused: boolean;
}

/** Why PgBouncer does not run `entry` as written in `output`, from `SHOW DATABASES` (the reload's read-back). */
export function notApplied(output: string, e: EntryInfo, live: ReadonlyMap<string, LiveDatabase>): string {
  const got = live.get(e.name);
  const found = got
    ? `${got.host ?? '(socket)'}:${got.port ?? '?'}/${got.dbname ?? '?'}${got.forceUser ? ` user ${got.forceUser}` : ''}`
    : 'absent';
  return (
    `PgBouncer did not apply ${output}: ${e.name} is ${found}, expected ${e.endpoint.host}:${e.endpoint.port}/${e.dbname}${e.user ? ` user ${e.user}` : ''} ` +
    `(PgBouncer 1.18 answers RELOAD with success even when loading fails: look for "config file loading failed" in its log)`
  );
}

export type PauseOutcome =
  /** Every server connection of the database is closed; clients queue. */
  | { readonly isPaused: true; readonly ms: number }
  /** PAUSE did not finish in time; it was cancelled with RESUME from a second connection. */
  | { readonly isPaused: false; readonly ms: number; readonly stalledAfterMs: number };

/** What the target needs from PgBouncer (a fake in unit tests). */
export interface PgBouncerAdmin {
  showDatabases(): Promise<Map<string, LiveDatabase>>;
  showConfig(): Promise<Map<string, string>>;
  reload(): Promise<void>;
  pause(db: string, timeoutMs: number): Promise<PauseOutcome>;
  resume(db: string): Promise<boolean>;
  kill(db: string): Promise<void>;
  close(): Promise<void>;
}

function assertName(db: string): void {
  // Names reach the admin console as plain text (simple query protocol): only ini-safe names.
  if (!INI_NAME.test(db))
    throw new AdminError(`refusing to send an unsafe database name to PgBouncer`, {
      command: 'validate',
      timedOut: false,
      sqlMessage: null,
    });
}

function text(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

/**
 * The PgBouncer operations the target and `switchyard switchover` need, on top of the admin console.
 * Keeps one shared connection for short commands (reopened when broken) and opens a dedicated one per
 * PAUSE, because PAUSE blocks its connection until every server connection is released.
 */
export class PgBouncerControl implements PgBouncerAdmin {
  private shared: AdminConnection | null = null;

  constructor(readonly endpoint: AdminEndpoint) {}

  private async connection(): Promise<AdminConnection> {
    if (this.shared?.isUsable) return this.shared;
    this.shared?.destroy();
    this.shared = await AdminConnection.open(this.endpoint);
    return this.shared;
  }

  private async run(command: string, timeoutMs?: number): Promise<Row[]> {
    const conn = await this.connection();
    return conn.query(command, timeoutMs);
  }

  async showDatabases(): Promise<Map<string, LiveDatabase>> {
    const rows = await this.run('SHOW DATABASES');
    const out = new Map<string, LiveDatabase>();
    for (const r of rows) {
      const name = text(r['name']);
      if (name === null) continue;
      const port = r['port'] === null || r['port'] === undefined ? null : Number(r['port']);
      out.set(name, {
        name,
        host: text(r['host']),
        port: Number.isFinite(port) ? port : null,
        dbname: text(r['database']),
        forceUser: text(r['force_user']),
        isPaused: Number(r['paused']) === 1 || r['paused'] === true,
      });
    }
    return out;
  }

  /** `SHOW CONFIG` as key → value. */
  async showConfig(): Promise<Map<string, string>> {
    const rows = await this.run('SHOW CONFIG');
    return new Map(rows.map((r) => [String(r['key']), String(r['value'])]));
  }

  /** RELOAD. PgBouncer 1.18 answers success even when the file failed to load: verify with SHOW DATABASES. */
  async reload(): Promise<void> {
    await this.run('RELOAD');
  }

  /**
   * PAUSE one database on a dedicated connection, waiting at most `timeoutMs` for running transactions.
   * A stalled PAUSE is cancelled with RESUME from a second connection and its connection dropped (a RESUME
   * racing a PAUSE on the same connection can leave it hanging, pgbouncer#715): the database is then NOT
   * paused and the caller decides (KILL, or give up).
   */
  async pause(db: string, timeoutMs: number): Promise<PauseOutcome> {
    assertName(db);
    const started = Date.now();
    const conn = await AdminConnection.open(this.endpoint);
    try {
      await conn.query(`PAUSE ${db}`, timeoutMs);
      return { isPaused: true, ms: Date.now() - started };
    } catch (err) {
      if (!(err instanceof AdminError) || !err.timedOut) throw err;
      const stalledAfterMs = Date.now() - started;
      conn.destroy();
      await this.resume(db);
      return { isPaused: false, ms: Date.now() - started, stalledAfterMs };
    } finally {
      conn.destroy();
    }
  }

  /** RESUME one database. Returns false when it was not paused (which counts as success). */
  async resume(db: string): Promise<boolean> {
    assertName(db);
    try {
      await this.run(`RESUME ${db}`);
      return true;
    } catch (err) {
      if (err instanceof AdminError && err.sqlMessage !== null && /is not paused/.test(err.sqlMessage))
        return false;
      throw err;
    }
  }

  /** KILL one database: drops its clients and server connections and leaves it paused (RESUME needed). */
  async kill(db: string): Promise<void> {
    assertName(db);
    await this.run(`KILL ${db}`);
  }

  async close(): Promise<void> {
    const conn = this.shared;
    this.shared = null;
    await conn?.close();
  }
}
