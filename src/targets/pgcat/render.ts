import { parse } from 'smol-toml';
import { isSafeHost, isValidPort, truncate } from '../../cluster/validate.js';
import { SwitchyardError, describeError } from '../../errors.js';
import type { CompiledTemplate } from '../../render/template.js';
import { TOML_KEY, type PgcatConfig } from './config.js';

export interface PgcatServer {
  readonly member: string | null;
  readonly host: string;
  readonly port: number;
  readonly role: 'primary' | 'replica';
}

export interface PgcatSecrets {
  readonly adminPassword: string;
  /** Pool name → password per user (same order as config), undefined = none. */
  readonly users: ReadonlyMap<string, ReadonlyArray<string | undefined>>;
}

/** A TOML basic string: every control character, DEL, `"` and `\` escaped, so no value can end the line. */
export function tomlString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

export function tomlValue(value: string | number | boolean): string {
  if (typeof value === 'string') return tomlString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new SwitchyardError('SY_ERR_RENDER_INVALID', `not a TOML number: ${value}`);
    return String(value);
  }
  return value ? 'true' : 'false';
}

function serverLiteral(s: PgcatServer): string {
  // Re-validated at render time: a host from etcd must be an IP or a host name, whatever the parser said.
  if (!isSafeHost(s.host)) {
    throw new SwitchyardError(
      'SY_ERR_RENDER_INVALID',
      `host ${JSON.stringify(truncate(s.host, 40))} is not allowed in pgcat.toml`,
    );
  }
  if (!isValidPort(s.port))
    throw new SwitchyardError('SY_ERR_RENDER_INVALID', `port ${s.port} is out of range`);
  return `[${tomlString(s.host)}, ${s.port}, ${tomlString(s.role)}]`;
}

const kv = (key: string, value: string | number | boolean) => ({ key, value: tomlValue(value) });

/**
 * Renders pgcat.toml for the given servers per pool and checks the result by parsing it with smol-toml and
 * applying pgcat's own rules (`Shard::validate`, required admin credentials) plus an exact comparison with
 * the intended servers, so nothing a value or template smuggled in reaches pgcat. Pure.
 */
export function renderPgcatToml(
  config: Pick<PgcatConfig, 'general' | 'pools'>,
  template: { render: CompiledTemplate; path: string },
  servers: ReadonlyMap<string, readonly PgcatServer[]>,
  secrets: PgcatSecrets,
): string {
  const general = [
    kv('host', config.general.host),
    kv('port', config.general.port),
    kv('admin_username', config.general.admin.username),
    kv('admin_password', secrets.adminPassword),
    ...Object.entries(config.general.settings).map(([k, v]) => kv(k, v)),
  ];
  const pools = Object.entries(config.pools).map(([name, pool]) => {
    const list = servers.get(name) ?? [];
    const passwords = secrets.users.get(name) ?? [];
    return {
      name,
      settings: [kv('pool_mode', pool.pool_mode), ...Object.entries(pool.settings).map(([k, v]) => kv(k, v))],
      users: pool.users.map((u, index) => ({
        index,
        fields: [
          kv('username', u.username),
          ...(passwords[index] !== undefined ? [kv('password', passwords[index] as string)] : []),
          kv('pool_size', u.pool_size),
          ...(u.min_pool_size !== undefined ? [kv('min_pool_size', u.min_pool_size)] : []),
          ...(u.statement_timeout !== undefined ? [kv('statement_timeout', u.statement_timeout)] : []),
        ],
      })),
      database: tomlString(pool.database ?? name),
      servers: `[${list.map(serverLiteral).join(', ')}]`,
    };
  });
  for (const name of Object.keys(config.pools)) {
    if (!TOML_KEY.test(name))
      throw new SwitchyardError(
        'SY_ERR_RENDER_INVALID',
        `pool name ${JSON.stringify(truncate(name, 40))} is not a TOML bare key`,
      );
  }
  const text = template.render({ general, pools });
  const problems = checkPgcatToml(text, servers);
  if (problems.length > 0) {
    throw new SwitchyardError(
      'SY_ERR_RENDER_INVALID',
      `${template.path} rendered an invalid pgcat.toml (${problems.slice(0, 3).join('; ')}); kept the live file`,
    );
  }
  return text;
}

/** pgcat's rules and the exact intended servers. Messages name keys, never values of credentials. */
export function checkPgcatToml(
  text: string,
  expected: ReadonlyMap<string, readonly PgcatServer[]>,
): string[] {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    return [`not valid TOML: ${describeError(err).split('\n')[0]}`];
  }
  const problems: string[] = [];
  const general = doc['general'] as Record<string, unknown> | undefined;
  for (const key of ['admin_username', 'admin_password']) {
    const v = general?.[key];
    if (typeof v !== 'string' || v === '')
      problems.push(`general.${key} is missing or empty (pgcat requires it)`);
  }
  const pools = (doc['pools'] ?? {}) as Record<string, Record<string, unknown>>;
  for (const name of Object.keys(pools))
    if (!expected.has(name)) problems.push(`unexpected pool ${JSON.stringify(truncate(name, 40))}`);
  for (const [name, want] of expected) {
    const shard = (pools[name]?.['shards'] as Record<string, Record<string, unknown>> | undefined)?.['0'];
    const list = shard?.['servers'];
    if (!Array.isArray(list)) {
      problems.push(`pools.${name}.shards.0.servers is missing`);
      continue;
    }
    if (list.length === 0) problems.push(`pools.${name}: no servers (pgcat requires at least one)`);
    const valid = list.every(
      (s) =>
        Array.isArray(s) &&
        s.length === 3 &&
        typeof s[0] === 'string' &&
        Number.isInteger(s[1]) &&
        (s[2] === 'primary' || s[2] === 'replica'),
    );
    if (!valid) {
      problems.push(`pools.${name}: every server must be [host, port, "primary" | "replica"]`);
      continue;
    }
    const servers = list as Array<[string, number, string]>;
    if (servers.filter((s) => s[2] === 'primary').length > 1)
      problems.push(`pools.${name}: more than one primary`);
    if (new Set(servers.map((s) => `${s[0]}:${s[1]}`)).size !== servers.length)
      problems.push(`pools.${name}: duplicate servers`);
    const same =
      servers.length === want.length &&
      servers.every((s, i) => s[0] === want[i]?.host && s[1] === want[i]?.port && s[2] === want[i]?.role);
    if (!same) problems.push(`pools.${name}: servers differ from the intended list`);
    const users = pools[name]?.['users'];
    if (typeof users !== 'object' || users === null || Object.keys(users).length === 0)
      problems.push(`pools.${name}: no users`);
  }
  return problems;
}

/** The primary each pool of an existing pgcat.toml names (to keep it while there is no writable leader). */
export function primariesOf(text: string | null): Map<string, PgcatServer> {
  const out = new Map<string, PgcatServer>();
  if (text === null) return out;
  try {
    const pools = ((parse(text) as Record<string, unknown>)['pools'] ?? {}) as Record<
      string,
      Record<string, unknown>
    >;
    for (const [name, pool] of Object.entries(pools)) {
      const list = (pool['shards'] as Record<string, Record<string, unknown>> | undefined)?.['0']?.[
        'servers'
      ];
      if (!Array.isArray(list)) continue;
      const p = list.find((s) => Array.isArray(s) && s[2] === 'primary') as
        [string, number, string] | undefined;
      if (p && isSafeHost(p[0]) && isValidPort(p[1]))
        out.set(name, { member: null, host: p[0], port: p[1], role: 'primary' });
    }
  } catch {
    // An unparsable live file has no primary to keep.
  }
  return out;
}
