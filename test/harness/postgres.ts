import { join } from 'node:path';
import { run } from './exec.js';
import { freePort } from './ports.js';
import { listensOn } from './pids.js';
import { ProcessGroup, postgresUser, postmasterPid } from './processes.js';
import { sqlQuery } from './sql.js';
import { WaitAbortedError, waitFor } from './wait.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Options of {@link startPostgres}. */
export interface PostgresOptions {
  /** Extra `-c name=value` settings. */
  parameters?: Record<string, string | number | boolean>;
  /** Start timeout, initdb included (default 60 s). */
  timeoutMs?: number;
  /** A streaming standby of this server (`pg_basebackup -R` instead of initdb). */
  standbyOf?: Pick<PostgresServer, 'port'>;
}

/** A standalone PostgreSQL 15 server on 127.0.0.1 (trust auth for every local and loopback user). */
export interface PostgresServer {
  port: number;
  dataDir: string;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  connectionString: string;
  group: ProcessGroup;
  pid(): number | undefined;
  /** Runs SQL as the `postgres` superuser; returns rows. */
  sql<R extends Record<string, unknown> = Record<string, unknown>>(
    query: string,
    params?: unknown[],
  ): Promise<R[]>;
  /** Fast shutdown (SIGINT) and wait; SIGKILL after `timeoutMs` (default 15 s). */
  stopServer(timeoutMs?: number): Promise<void>;
  /** Starts the server again with the same data dir and port; waits until it answers. */
  startServer(): Promise<void>;
  logTail(lines?: number): string;
  /** Kills everything and removes the temp dir; idempotent. */
  stop(): Promise<void>;
}

/** initdb (or pg_basebackup of `standbyOf`; as the postgres OS user, `--no-sync`) and start a PostgreSQL 15 server with fsync off; resolves once `select 1` works. */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const group = ProcessGroup.create('postgres');
  try {
    const { uid, gid } = postgresUser();
    const home = group.mkdir('pg', { forPostgres: true, mode: 0o700 });
    const dataDir = join(home, 'data');
    const port = await freePort();
    const primary = options.standbyOf;
    await run(
      `${PG_BIN}/${primary ? 'pg_basebackup' : 'initdb'}`,
      primary
        ? ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '--no-sync']
        : ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'],
      { uid, gid, cwd: home, timeoutMs, env: { HOME: home } },
    );
    group.watchDataDir(dataDir);
    const settings: Record<string, string | number | boolean> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: home,
      fsync: 'off',
      shared_buffers: '16MB',
      max_connections: 50,
      logging_collector: 'off',
      ...options.parameters,
    };
    const args = [
      '-D',
      dataDir,
      '-p',
      String(port),
      ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ];
    const sql: PostgresServer['sql'] = (query, params) => sqlQuery({ port }, query, params);
    const startServer = async (): Promise<void> => {
      const proc = group.spawn({
        name: 'postgres',
        command: `${PG_BIN}/postgres`,
        args,
        asPostgres: true,
        cwd: home,
      });
      await waitFor(
        async () => {
          if (!proc.isRunning()) throw new WaitAbortedError('postgres exited');
          return listensOn(proc.pid, port) && (await sql('select 1 as ok')).length === 1;
        },
        {
          timeoutMs,
          intervalMs: 100,
          what: `postgres on port ${port} to accept queries`,
          diagnose: () => group.logTail('postgres', 30),
        },
      );
    };
    await startServer();
    return {
      port,
      dataDir,
      connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
      group,
      pid: () => postmasterPid(dataDir),
      sql,
      async stopServer(ms = 15_000) {
        await group.stop('postgres', 'SIGINT', ms);
      },
      startServer,
      logTail(lines = 40) {
        return group.logTail('postgres', lines);
      },
      async stop() {
        await group.cleanup();
      },
    };
  } catch (error) {
    await group.cleanup();
    throw error;
  }
}
