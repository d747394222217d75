import pg from 'pg';
import { SwitchyardError } from '../../src/errors.js';

/** The leader cannot serve as pg_rewind's source yet: try again next cycle; not a failed rewind. */
export class RewindSourceNotReady extends SwitchyardError {
  override name = 'RewindSourceNotReady';
  constructor(source: { host: string; port: number }, why: string) {
    super('SY_ERR_AGENT', `pg_rewind source ${source.host}:${source.port} is not ready: ${why}`);
  }
}

/** The timeline of the last checkpoint and the one the WAL is written on now (from the WAL file name). */
const TIMELINES_SQL = `SELECT c.timeline_id AS checkpoint_tli,
  ('x' || left(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 8))::bit(32)::int AS wal_tli
  FROM pg_catalog.pg_control_checkpoint() c`;

/**
 * Patroni's checks before pg_rewind (rewind.py `execute`): the source must be a primary, and its pg_control
 * must carry the new timeline, i.e. a checkpoint must have run since the promotion. Before it, pg_rewind
 * reads the old timeline from the source, answers "no rewind required", and the diverged node then cannot
 * start as a standby. With superuser credentials (the agent's default for pg_rewind) this runs CHECKPOINT on
 * the source, as Patroni does; with a dedicated rewind user it only asks whether that checkpoint happened.
 * Throws {@link RewindSourceNotReady} when the source is unreachable, in recovery or not checkpointed yet.
 */
export async function prepareRewindSource(
  source: { host: string; port: number },
  credentials: { username: string; password?: string | undefined },
  database: string,
  isSuperuser: boolean,
): Promise<void> {
  const client = new pg.Client({
    host: source.host,
    port: source.port,
    user: credentials.username,
    ...(credentials.password === undefined ? {} : { password: credentials.password }),
    database,
    connectionTimeoutMillis: 3000,
    statement_timeout: 60_000,
    query_timeout: 65_000,
    application_name: 'switchyard-agent-rewind',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new RewindSourceNotReady(
      source,
      `cannot connect (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  try {
    const rec = await client.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r');
    if (rec.rows[0]?.r !== false) throw new RewindSourceNotReady(source, 'it is still in recovery');
    if (isSuperuser) await client.query('CHECKPOINT');
    const tl = (await client.query<{ checkpoint_tli: number; wal_tli: number }>(TIMELINES_SQL)).rows[0];
    if (!tl || tl.checkpoint_tli !== tl.wal_tli)
      throw new RewindSourceNotReady(source, 'it has not run a checkpoint since its promotion');
  } catch (err) {
    if (err instanceof RewindSourceNotReady) throw err;
    throw new RewindSourceNotReady(source, err instanceof Error ? err.message : String(err));
  } finally {
    await client.end().catch(() => undefined);
  }
}
