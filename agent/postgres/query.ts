import pg from 'pg';
import type { AgentConfig } from '../config/load.js';
import type { ReplicationRow } from '../ha/types.js';
import { parseLsn } from './lsn.js';

/** One query round against the running PostgreSQL. */
export interface RunningStatus {
  readonly isInRecovery: boolean;
  /** Primary: flush LSN. */
  readonly flushLsn: number | null;
  readonly receiveLsn: number | null;
  readonly replayLsn: number | null;
  readonly timeline: number | null;
  readonly systemId: string;
  readonly synchronousStandbyNames: string;
  readonly primaryConninfo: { host: string; port: number } | null;
  readonly postmasterStartTime: string;
  readonly serverVersion: number;
  readonly replayedTimestamp: string | null;
  readonly isReplayPaused: boolean;
  readonly walReceiverStreaming: boolean;
  readonly replication: readonly (ReplicationRow & {
    usename: string;
    clientAddr: string | null;
    syncPriority: number;
  })[];
}

const STATUS_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn()::text END AS flush,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_flush_lsn()) END AS walfile,
  pg_last_wal_receive_lsn()::text AS receive,
  pg_last_wal_replay_lsn()::text AS replay,
  (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1) AS received_tli,
  (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS wr_status,
  (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli,
  (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
  current_setting('synchronous_standby_names') AS ssn,
  current_setting('primary_conninfo') AS conninfo,
  pg_postmaster_start_time()::text AS start_time,
  current_setting('server_version_num')::int AS version,
  pg_last_xact_replay_timestamp()::text AS replay_ts,
  CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE (
    SELECT json_agg(json_build_object('usename', usename, 'application_name', application_name,
      'client_addr', client_addr::text, 'state', state, 'sync_state', sync_state,
      'sync_priority', sync_priority, 'flush_lsn', flush_lsn::text) ORDER BY application_name)
    FROM pg_stat_replication) END AS replication`;

function conninfoTarget(text: string): { host: string; port: number } | null {
  const host = /(?:^|\s)host=(\S+)/.exec(text)?.[1];
  const port = /(?:^|\s)port=(\d+)/.exec(text)?.[1];
  return host ? { host, port: port ? Number(port) : 5432 } : null;
}

/**
 * Superuser connections to the local PostgreSQL over TCP (`postgresql.connect_address`'s port on the listen
 * address, loopback when listening on every address). Bounded: 2 s to connect, 5 s per statement.
 */
export class PgQuery {
  #pool: pg.Pool;
  readonly #options: pg.PoolConfig;

  constructor(
    config: AgentConfig,
    pool: { max: number; applicationName: string } = { max: 3, applicationName: 'switchyard-agent' },
  ) {
    const pgc = config.postgresql;
    const first = pgc.listenAddresses.split(',')[0]?.trim() ?? '127.0.0.1';
    const host =
      first === '*' || first === '0.0.0.0' || first === '' ? '127.0.0.1' : first === '::' ? '::1' : first;
    this.#options = {
      host,
      port: pgc.port,
      user: pgc.superuser.username,
      password: pgc.superuser.password,
      database: pgc.database,
      max: pool.max,
      idleTimeoutMillis: 10_000,
      connectionTimeoutMillis: 2000,
      statement_timeout: 5000,
      query_timeout: 6000,
      application_name: pool.applicationName,
    };
    this.#pool = this.#newPool();
  }

  #newPool(): pg.Pool {
    const pool = new pg.Pool(this.#options);
    // An idle client losing its server (PostgreSQL stopped) must not crash the agent.
    pool.on('error', () => undefined);
    return pool;
  }

  async status(): Promise<RunningStatus> {
    const client = await this.#pool.connect();
    // A checked-out client has no pool listener: PostgreSQL stopping under the query makes the client emit
    // 'error' (after failing the query). It is this call's error, never an uncaught exception.
    let broken: Error | undefined;
    const onError = (err: Error): void => {
      broken = err;
    };
    client.on('error', onError);
    try {
      const row = (await client.query(STATUS_SQL)).rows[0] as Record<string, unknown>;
      const inRecovery = row['in_recovery'] === true;
      // One round trip: a primary's pg_stat_replication rows come as JSON in the same row.
      const rep = inRecovery || !Array.isArray(row['replication']) ? [] : (row['replication'] as unknown[]);
      const walfile = typeof row['walfile'] === 'string' ? row['walfile'] : null;
      const primaryTl = walfile ? parseInt(walfile.slice(0, 8), 16) : null;
      const timeline = inRecovery
        ? Math.max(Number(row['received_tli'] ?? 0), Number(row['checkpoint_tli'] ?? 0)) || null
        : primaryTl;
      return {
        isInRecovery: inRecovery,
        flushLsn: parseLsn(row['flush'] as string | null),
        receiveLsn: parseLsn(row['receive'] as string | null),
        replayLsn: parseLsn(row['replay'] as string | null),
        timeline,
        systemId: String(row['sysid']),
        synchronousStandbyNames: String(row['ssn'] ?? ''),
        primaryConninfo: conninfoTarget(String(row['conninfo'] ?? '')),
        postmasterStartTime: String(row['start_time'] ?? ''),
        serverVersion: Number(row['version'] ?? 0),
        replayedTimestamp: (row['replay_ts'] as string | null) ?? null,
        isReplayPaused: row['paused'] === true,
        walReceiverStreaming: row['wr_status'] === 'streaming',
        replication: (rep as Record<string, unknown>[]).map((r) => ({
          usename: String(r['usename'] ?? ''),
          applicationName: String(r['application_name'] ?? ''),
          clientAddr: (r['client_addr'] as string | null) ?? null,
          state: String(r['state'] ?? ''),
          syncState: String(r['sync_state'] ?? ''),
          syncPriority: Number(r['sync_priority'] ?? 0),
          flushLsn: parseLsn(r['flush_lsn'] as string | null),
        })),
      };
    } catch (err) {
      broken ??= err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.removeListener('error', onError);
      // A client that failed is destroyed rather than returned to the pool.
      client.release(broken);
    }
  }

  /** Polls every 10 ms until PostgreSQL left recovery (after a promote request); throws after `timeoutMs`. */
  async waitForPromotion(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const r = await this.#pool.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        if (r.rows[0]?.r === false) return;
      } catch {
        // still starting up or restarting after promotion
      }
      await new Promise((res) => setTimeout(res, 10));
    }
    throw new Error(`PostgreSQL did not leave recovery within ${timeoutMs} ms`);
  }

  /** The pid of PostgreSQL's startup process (the one replaying WAL), null when there is none or on error. */
  async startupPid(): Promise<number | null> {
    try {
      const r = await this.#pool.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'",
      );
      return r.rows[0]?.pid ?? null;
    } catch {
      return null;
    }
  }

  /** Runs one statement as superuser (CREATE ROLE, slots, CHECKPOINT, ALTER SYSTEM...). */
  async exec(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    return this.#pool.query(sql, params);
  }

  /** Drops pooled connections (before stopping PostgreSQL, so shutdown is not held up by them). */
  async reset(): Promise<void> {
    const old = this.#pool;
    this.#pool = this.#newPool();
    await old.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }
}
