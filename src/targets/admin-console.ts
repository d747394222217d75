import type pg from 'pg';
import { lazyModule } from '../util/lazy.js';
import { SwitchyardError, describeError } from '../errors.js';

const loadPg = lazyModule<typeof pg>('pg');

/**
 * How to reach a pooler's admin console: PgBouncer's, or pgcat's, which speaks the same protocol on the same
 * virtual database (`pgbouncer`; pgcat also answers to `pgcat`) with the same `RELOAD` and `SHOW ...`
 * commands (targets.md §2.5, §3.4).
 */
export interface AdminEndpoint {
  /** Which pooler, in messages: `PgBouncer` (the default) or `pgcat`. */
  readonly label?: 'PgBouncer' | 'pgcat';
  /** Host, IP, or a Unix socket directory (starts with `/`). */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string | undefined;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

/** A failed admin command. Match on `timedOut` / `sqlMessage`, never on `message`. */
export class AdminError extends SwitchyardError {
  override name = 'AdminError';
  readonly command: string;
  readonly timedOut: boolean;
  /** The pooler's ErrorResponse text, when it answered with one ("database app is not paused"). */
  readonly sqlMessage: string | null;
  constructor(
    message: string,
    fields: { command: string; timedOut: boolean; sqlMessage: string | null; cause?: unknown },
  ) {
    super('SY_ERR_ADMIN_CONSOLE', message, { cause: fields.cause });
    this.command = fields.command;
    this.timedOut = fields.timedOut;
    this.sqlMessage = fields.sqlMessage;
  }
}

export type Row = Record<string, unknown>;

function where(ep: AdminEndpoint): string {
  return ep.host.startsWith('/') ? `${ep.host}/.s.PGSQL.${ep.port}` : `${ep.host}:${ep.port}`;
}

/** "PgBouncer admin 127.0.0.1:6432", the start of every command error. */
function consoleName(ep: AdminEndpoint): string {
  return `${ep.label ?? 'PgBouncer'} admin ${where(ep)}`;
}

/**
 * One admin-console connection, shared by the PgBouncer and pgcat targets. The console speaks only the
 * simple query protocol: queries are sent as plain text without parameters (node-pg does that when no
 * values are given). Every command has a deadline; on timeout the socket is destroyed, because a late answer on a reused connection would be
 * read as the answer to the next command.
 */
export class AdminConnection {
  private isBroken = false;

  private constructor(
    private readonly client: pg.Client,
    private readonly endpoint: AdminEndpoint,
  ) {
    // Without a listener a dropped socket is an uncaught 'error' event that ends the process.
    client.on('error', () => {
      this.isBroken = true;
    });
    client.on('end', () => {
      this.isBroken = true;
    });
  }

  static async open(endpoint: AdminEndpoint): Promise<AdminConnection> {
    const client = new (loadPg().Client)({
      host: endpoint.host,
      port: endpoint.port,
      user: endpoint.user,
      password: endpoint.password,
      database: 'pgbouncer',
      connectionTimeoutMillis: endpoint.connectTimeoutMs,
      application_name: 'switchyard',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new AdminError(
        `cannot connect to the ${endpoint.label ?? 'PgBouncer'} admin console at ${where(endpoint)} as ${endpoint.user}: ${describeError(err)}`,
        {
          command: 'connect',
          timedOut: /timeout/i.test(describeError(err)),
          sqlMessage: null,
          cause: err,
        },
      );
    }
    return new AdminConnection(client, endpoint);
  }

  get isUsable(): boolean {
    return !this.isBroken;
  }

  /** Runs one admin command; `timeoutMs` defaults to the endpoint's command timeout. */
  async query(command: string, timeoutMs = this.endpoint.commandTimeoutMs): Promise<Row[]> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.destroy();
        reject(
          new AdminError(`${consoleName(this.endpoint)}: ${command} timed out after ${timeoutMs} ms`, {
            command,
            timedOut: true,
            sqlMessage: null,
          }),
        );
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([this.client.query(command), deadline]);
      return (result as pg.QueryResult<Row>).rows;
    } catch (err) {
      if (err instanceof AdminError) throw err;
      const sqlMessage = isServerError(err) ? describeError(err) : null;
      if (!sqlMessage) this.isBroken = true;
      throw new AdminError(`${consoleName(this.endpoint)}: ${command} failed: ${describeError(err)}`, {
        command,
        timedOut: false,
        sqlMessage,
        cause: err,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops the socket at once (the server sees a disconnect). */
  destroy(): void {
    this.isBroken = true;
    const stream = (this.client as unknown as { connection?: { stream?: { destroy(): void } } }).connection
      ?.stream;
    stream?.destroy();
    this.client.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.isBroken = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.client.end().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.destroy();
          resolve();
        }, 1000);
      }),
    ]);
    clearTimeout(timer);
  }
}

/** An ErrorResponse from the pooler (the connection is still fine), as opposed to a transport failure. */
function isServerError(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    'severity' in err &&
    typeof (err as { severity: unknown }).severity === 'string'
  );
}
