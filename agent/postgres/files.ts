import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AgentConfig } from '../config/load.js';
import type { PgOsUser } from './run.js';
import { checkParameters, type KnownParameters, type ParameterCheck } from './parameters.js';
import { readFileNoFollow, writeFileNoFollow } from './safe-write.js';

/** File the agent owns inside the data directory; postgresql.conf includes it (last setting wins). */
export const AGENT_CONF = 'switchyard.conf';

/** Patroni's `slot_name_from_member_name`: lowercase, `-`/`.` → `_`, other characters `uNNNN`, ≤ 63 bytes. */
export function slotName(member: string): string {
  return member
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, (c) =>
      c === '-' || c === '.' ? '_' : `u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    )
    .slice(0, 63);
}

function quote(value: string | number | boolean): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

export interface Following {
  readonly host: string;
  readonly port: number;
  readonly slot: string;
}

/**
 * The user's parameters after validation (see `checkParameters`): the cluster config's, then this node's
 * YAML on top (Patroni's order), with the reason for each one dropped.
 */
export function userParameters(
  config: AgentConfig,
  dcsParameters: Readonly<Record<string, unknown>>,
  known: KnownParameters | null,
): ParameterCheck {
  const dynamic = checkParameters(dcsParameters, 'dynamic', known);
  const local = checkParameters(config.postgresql.parameters, 'local', known);
  return {
    accepted: { ...dynamic.accepted, ...local.accepted },
    dropped: [...dynamic.dropped, ...local.dropped],
  };
}

/** Parameters the agent needs for HA; user parameters (patroni.yml, then /config) come on top, except these. */
export function agentParameters(
  config: AgentConfig,
  dcsParameters: Readonly<Record<string, unknown>>,
  following: Following | null,
  synchronousStandbyNames: string,
  known: KnownParameters | null = null,
): Record<string, string | number | boolean> {
  const pg = config.postgresql;
  const params: Record<string, string | number | boolean> = {
    wal_level: 'replica',
    hot_standby: 'on',
    max_wal_senders: 10,
    max_replication_slots: 10,
    wal_log_hints: 'on',
    wal_keep_size: '128MB',
    unix_socket_directories: '/tmp',
  };
  Object.assign(params, userParameters(config, dcsParameters, known).accepted);
  params['listen_addresses'] = pg.listenAddresses;
  params['port'] = pg.port;
  params['cluster_name'] = config.scope;
  params['synchronous_standby_names'] = synchronousStandbyNames;
  params['recovery_target_timeline'] = 'latest';
  params['primary_conninfo'] = following
    ? `host=${following.host} port=${following.port} user=${pg.replication.username} passfile=${pg.pgpass} application_name=${config.name} connect_timeout=2 sslmode=prefer`
    : '';
  params['primary_slot_name'] = following ? following.slot : '';
  return params;
}

export function renderConf(params: Record<string, string | number | boolean>): string {
  const lines = Object.entries(params).map(([k, v]) => `${k} = ${quote(v)}`);
  return `# Written by the switchyard agent on every start; edit patroni.yml or /config instead.\n${lines.join('\n')}\n`;
}

/** A file inside the data directory: never through a symlink, owned by the data directory's owner, 0600. */
function writeOwned(path: string, text: string, user: PgOsUser | null): void {
  writeFileNoFollow(path, text, { owner: user, mode: 0o600, dirOwnedBy: 'owner' });
}

/** Writes switchyard.conf and makes postgresql.conf include it once. */
export function writeAgentConf(
  dataDir: string,
  params: Record<string, string | number | boolean>,
  user: PgOsUser | null,
): void {
  writeOwned(join(dataDir, AGENT_CONF), renderConf(params), user);
  const main = join(dataDir, 'postgresql.conf');
  const text = readFileNoFollow(main) ?? '';
  if (!text.includes(`include_if_exists = '${AGENT_CONF}'`)) {
    writeOwned(main, `${text}\ninclude_if_exists = '${AGENT_CONF}'\n`, user);
  }
}

/** `standby.signal` present ⇔ PostgreSQL starts in recovery (follows or waits for a leader). */
export function setStandbySignal(dataDir: string, isStandby: boolean, user: PgOsUser | null): void {
  const path = join(dataDir, 'standby.signal');
  if (isStandby) writeOwned(path, '', user);
  else rmSync(path, { force: true });
}

export function hasStandbySignal(dataDir: string): boolean {
  return existsSync(join(dataDir, 'standby.signal'));
}

/** pgpass with the replication, superuser and rewind credentials (0600, owned by the PostgreSQL user). */
export function writePgpass(config: AgentConfig, user: PgOsUser | null): void {
  const pg = config.postgresql;
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  const lines = [pg.replication, pg.superuser, ...(pg.rewind ? [pg.rewind] : [])]
    .filter((c) => c.password !== undefined)
    .map((c) => `*:*:*:${esc(c.username)}:${esc(c.password as string)}`);
  // A pre-existing pgpass (any mode) is replaced by a new 0600 file, never written through a symlink.
  writeFileNoFollow(pg.pgpass, `${lines.join('\n')}\n`, {
    owner: user,
    mode: 0o600,
    dirOwnedBy: 'owner-or-root',
  });
}

/** pg_hba.conf: `postgresql.pg_hba` replaces it on every start when set; else bootstrap lines after initdb. */
export function writePgHba(dataDir: string, lines: readonly string[], user: PgOsUser | null): void {
  writeOwned(join(dataDir, 'pg_hba.conf'), `${lines.join('\n')}\n`, user);
}

export function appendPgHba(dataDir: string, lines: readonly string[], user: PgOsUser | null): void {
  if (lines.length === 0) return;
  const path = join(dataDir, 'pg_hba.conf');
  const text = readFileNoFollow(path) ?? '';
  // Patroni puts bootstrap.pg_hba first so that its rules win over initdb's defaults.
  writeOwned(path, `${lines.join('\n')}\n${text}`, user);
}

/** The initdb password file (superuser password, 0600, removed after initdb): next to the data directory. */
export function writeInitdbPasswordFile(
  dataDir: string,
  member: string,
  password: string,
  user: PgOsUser | null,
): string {
  const path = join(dirname(dataDir), `.pwfile-${member}`);
  rmSync(path, { force: true });
  writeFileNoFollow(path, `${password}\n`, { owner: user, mode: 0o600, dirOwnedBy: 'owner-or-root' });
  return path;
}

export function isDataDirEmpty(dataDir: string): boolean {
  return !existsSync(join(dataDir, 'PG_VERSION'));
}
