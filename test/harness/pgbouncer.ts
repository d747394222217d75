import { readFileSync } from 'node:fs';
import { freePort } from './ports.js';
import { listensOn } from './pids.js';
import { ProcessGroup, signalTree } from './processes.js';
import { sqlQuery } from './sql.js';
import { WaitAbortedError, waitFor } from './wait.js';

/** Options of {@link startPgbouncer}: either your own `iniPath`, or `databases` (and friends) for a generated ini. */
export interface PgbouncerOptions {
  /** An existing pgbouncer.ini (must be readable by postgres; `listen_port` and `admin_users` are read from it). */
  iniPath?: string;
  /** `[databases]` entries, e.g. `{ app: 'host=127.0.0.1 port=5432 dbname=postgres' }` (generated ini only). */
  databases?: Record<string, string>;
  /** Default "transaction". */
  poolMode?: 'session' | 'transaction' | 'statement';
  /** Extra `[pgbouncer]` settings (generated ini only). */
  settings?: Record<string, string | number>;
  /** Start timeout (default 15 s). */
  timeoutMs?: number;
}

/** A running PgBouncer 1.18 (as the postgres OS user, in the foreground). */
export interface PgbouncerInstance {
  port: number;
  iniPath: string;
  /** User allowed on the admin console (database `pgbouncer`). */
  adminUser: string;
  group: ProcessGroup;
  pid(): number | undefined;
  /** Runs a command on the admin console (`SHOW POOLS`, `PAUSE app`, `RELOAD` …); returns rows. */
  adminQuery<R extends Record<string, unknown> = Record<string, unknown>>(command: string): Promise<R[]>;
  /** Sends a signal to the pgbouncer process (SIGHUP = reload). */
  signal(signal: NodeJS.Signals): void;
  logTail(lines?: number): string;
  /** SIGTERM (immediate shutdown) and wait, SIGKILL after 5 s. */
  stopProcess(): Promise<void>;
  kill9(): Promise<void>;
  /** Starts pgbouncer again with the same ini; waits for the admin console. */
  startProcess(): Promise<void>;
  /** Kills everything and removes the temp dir; idempotent. */
  stop(): Promise<void>;
}

function iniValue(ini: string, key: string): string | undefined {
  return new RegExp(`^\\s*${key}\\s*=\\s*(.*?)\\s*$`, 'm').exec(ini)?.[1];
}

/**
 * Starts PgBouncer on 127.0.0.1. With `databases`, writes an ini with `auth_type = trust`, an
 * auth_file listing `postgres` and the admin user `pgbouncer_admin`, and a unix socket dir in the
 * temp dir. Resolves once `SHOW VERSION` answers on the admin console.
 */
export async function startPgbouncer(options: PgbouncerOptions): Promise<PgbouncerInstance> {
  const group = ProcessGroup.create('pgbouncer');
  try {
    let iniPath = options.iniPath;
    if (!iniPath) {
      if (!options.databases) throw new Error('startPgbouncer: give `iniPath` or `databases`');
      const port = await freePort();
      const dir = group.mkdir('pgbouncer', { forPostgres: true });
      const authFile = group.writeFile('pgbouncer/userlist.txt', '"postgres" ""\n"pgbouncer_admin" ""\n', {
        forPostgres: true,
      });
      const settings: Record<string, string | number> = {
        listen_addr: '127.0.0.1',
        listen_port: port,
        unix_socket_dir: dir,
        auth_type: 'trust',
        auth_file: authFile,
        admin_users: 'pgbouncer_admin',
        stats_users: 'pgbouncer_admin',
        pool_mode: options.poolMode ?? 'transaction',
        max_client_conn: 200,
        default_pool_size: 10,
        server_login_retry: 1,
        ignore_startup_parameters: 'extra_float_digits,options',
        ...options.settings,
      };
      const ini = [
        '[databases]',
        ...Object.entries(options.databases).map(([k, v]) => `${k} = ${v}`),
        '',
        '[pgbouncer]',
        ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
        '',
      ].join('\n');
      iniPath = group.writeFile('pgbouncer/pgbouncer.ini', ini, { forPostgres: true });
    }
    const text = readFileSync(iniPath, 'utf8');
    const port = Number(iniValue(text, 'listen_port') ?? 6432);
    const adminUser = (iniValue(text, 'admin_users') ?? 'pgbouncer').split(',')[0]?.trim() ?? 'pgbouncer';
    const ini = iniPath;
    const adminQuery: PgbouncerInstance['adminQuery'] = (command) =>
      sqlQuery({ port, user: adminUser, database: 'pgbouncer' }, command);
    const startProcess = async (): Promise<void> => {
      const proc = group.spawn({
        name: 'pgbouncer',
        command: '/usr/sbin/pgbouncer',
        args: [ini],
        asPostgres: true,
      });
      await waitFor(
        async () => {
          if (!proc.isRunning()) throw new WaitAbortedError('pgbouncer exited');
          // the port may belong to another pgbouncer: only ours counts
          return listensOn(proc.pid, port) && (await adminQuery('SHOW VERSION')).length > 0;
        },
        {
          timeoutMs: options.timeoutMs ?? 15_000,
          intervalMs: 100,
          what: `pgbouncer admin console on port ${port}`,
          diagnose: () => group.logTail('pgbouncer', 30),
        },
      );
    };
    await startProcess();
    return {
      port,
      iniPath: ini,
      adminUser,
      group,
      pid: () => group.pid('pgbouncer'),
      adminQuery,
      signal(signal) {
        group.signal('pgbouncer', signal);
      },
      logTail(lines = 40) {
        return group.logTail('pgbouncer', lines);
      },
      async stopProcess() {
        await group.stop('pgbouncer', 'SIGTERM', 5_000);
      },
      async kill9() {
        const pid = group.pid('pgbouncer');
        if (pid !== undefined) signalTree(pid, 'SIGKILL');
        await group.stop('pgbouncer', 'SIGKILL', 5_000);
      },
      startProcess,
      async stop() {
        await group.cleanup();
      },
    };
  } catch (error) {
    await group.cleanup();
    throw error;
  }
}
