import { runPg, type PgOsUser } from './run.js';

/** One row of `postgres --describe-config`: the server's own list of parameters. */
export interface ParameterInfo {
  readonly context: string;
  readonly type: 'BOOLEAN' | 'INTEGER' | 'REAL' | 'STRING' | 'ENUM' | string;
}

export type KnownParameters = ReadonlyMap<string, ParameterInfo>;
export type ParameterValue = string | number | boolean;

/** Where a set of parameters came from; Patroni treats the two differently (see `checkParameters`). */
export type ParameterSource = 'local' | 'dynamic';

export interface ParameterCheck {
  readonly accepted: Record<string, ParameterValue>;
  /** One line per dropped parameter, naming it and the reason (values are never shown: they may be secrets). */
  readonly dropped: readonly string[];
}

/** Parses `postgres --describe-config` (tab-separated: name, context, group, type, ...). */
export function parseDescribeConfig(text: string): KnownParameters {
  const out = new Map<string, ParameterInfo>();
  for (const line of text.split('\n')) {
    const [name, context, , type] = line.split('\t');
    if (name && context !== undefined && type) out.set(name.toLowerCase(), { context, type });
  }
  return out;
}

/** Asks the server binary which parameters it knows; null when it cannot say (then names are not checked). */
export async function readKnownParameters(
  binDir: string,
  user: PgOsUser | null,
): Promise<KnownParameters | null> {
  const res = await runPg(binDir, 'postgres', ['--describe-config'], { user, timeoutMs: 10_000 });
  if (res.exitCode !== 0) return null;
  const known = parseDescribeConfig(res.output);
  return known.size > 0 ? known : null;
}

/**
 * Set by the agent on every start: HA depends on them (Patroni's CMDLINE_OPTIONS whose validator always
 * fails, its recovery parameters, and the files the agent owns). Dropped from both sources.
 */
const AGENT_MANAGED = new Set([
  'listen_addresses',
  'port',
  'cluster_name',
  'hot_standby',
  'wal_log_hints',
  'synchronous_standby_names',
  'data_directory',
  'config_file',
  'hba_file',
  'ident_file',
  // Patroni's recovery_parameters: set through the agent's own recovery handling, never from parameters.
  'primary_conninfo',
  'primary_slot_name',
  'promote_trigger_file',
  'recovery_target',
  'recovery_target_action',
  'recovery_target_inclusive',
  'recovery_target_lsn',
  'recovery_target_name',
  'recovery_target_time',
  'recovery_target_timeline',
  'recovery_target_xid',
  'recovery_min_apply_delay',
  'restore_command',
  'archive_cleanup_command',
  'recovery_end_command',
  'trigger_file',
  'standby_mode',
  'pause_at_recovery_target',
]);

/** Booleans the agent always turns on. */
const SAME_AS_AGENT = new Set(['hot_standby', 'wal_log_hints']);

const BOOL = /^(on|off|true|false|yes|no|1|0)$/i;
const UNIT = '(B|kB|MB|GB|TB|us|ms|s|min|h|d)?';
const INTEGER = new RegExp(`^-?\\d+\\s*${UNIT}$`);
const REAL = new RegExp(`^-?(\\d+\\.?\\d*|\\.\\d+)(e[-+]?\\d+)?\\s*${UNIT}$`, 'i');

function toMegabytes(v: ParameterValue): number | null {
  const m = /^(\d+)\s*(kB|MB|GB|TB)?$/.exec(String(v).trim());
  if (!m) return null;
  const factor = { kB: 1 / 1024, MB: 1, GB: 1024, TB: 1024 * 1024 }[m[2] ?? 'MB'] ?? 1;
  return Number(m[1]) * factor;
}

const atLeast = (min: number) => (v: ParameterValue) => INTEGER.test(String(v).trim()) && Number(v) >= min;

/**
 * Patroni's CMDLINE_OPTIONS that the cluster's `config` key may set, each with its rule. Patroni drops a
 * value that breaks the rule (keeps its default) and ignores these in a node's own YAML: every node must
 * agree on them, or a standby refuses to start (e.g. max_connections below the primary's).
 */
const CLUSTER_WIDE: Record<string, { rule: (v: ParameterValue) => boolean; expected: string }> = {
  wal_level: {
    rule: (v) => ['hot_standby', 'replica', 'logical'].includes(String(v).toLowerCase()),
    expected: 'replica or logical',
  },
  max_connections: { rule: atLeast(25), expected: 'an integer ≥ 25' },
  max_wal_senders: { rule: atLeast(3), expected: 'an integer ≥ 3' },
  wal_keep_size: { rule: (v) => (toMegabytes(v) ?? 0) >= 16, expected: 'a size ≥ 16MB' },
  max_prepared_transactions: { rule: atLeast(0), expected: 'an integer ≥ 0' },
  max_locks_per_transaction: { rule: atLeast(32), expected: 'an integer ≥ 32' },
  track_commit_timestamp: {
    rule: (v) => typeof v === 'boolean' || BOOL.test(String(v)),
    expected: 'a boolean',
  },
  max_replication_slots: { rule: atLeast(4), expected: 'an integer ≥ 4' },
  max_worker_processes: { rule: atLeast(2), expected: 'an integer ≥ 2' },
};

function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** A parameter name: an identifier, or `extension.name` for an extension's own parameters. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

function fitsType(info: ParameterInfo, v: ParameterValue): boolean {
  const s = String(v).trim();
  if (info.type === 'BOOLEAN') return typeof v === 'boolean' || BOOL.test(s);
  if (info.type === 'INTEGER') return typeof v === 'number' ? Number.isInteger(v) : INTEGER.test(s);
  if (info.type === 'REAL') return typeof v === 'number' || REAL.test(s);
  return true;
}

/**
 * Validates PostgreSQL parameters like Patroni before they reach a config file: a key that is not a
 * parameter name (a newline in a key must not inject a line), a value that is not one line of text, a
 * parameter the agent manages, a cluster-wide parameter from a node's YAML or breaking its rule, and a
 * parameter this PostgreSQL does not know (`known`, from `postgres --describe-config`) or a value of the
 * wrong type are dropped with a reason, so one bad entry never stops a node. Pure.
 */
export function checkParameters(
  params: Readonly<Record<string, unknown>>,
  source: ParameterSource,
  known: KnownParameters | null,
): ParameterCheck {
  const accepted: Record<string, ParameterValue> = {};
  const dropped: string[] = [];
  const where =
    source === 'local' ? "this node's postgresql.parameters" : "the cluster config's postgresql.parameters";
  const drop = (name: string, why: string) =>
    dropped.push(`${where}: ${JSON.stringify(name)} ignored: ${why}`);
  for (const [name, value] of Object.entries(params)) {
    const key = name.toLowerCase();
    if (!NAME.test(name)) {
      drop(name, 'not a parameter name (letters, digits, _ and one optional dot)');
      continue;
    }
    if (
      typeof value !== 'string' &&
      typeof value !== 'boolean' &&
      !(typeof value === 'number' && Number.isFinite(value))
    ) {
      drop(name, `expected a string, number or boolean, got ${value === null ? 'null' : typeof value}`);
      continue;
    }
    if (typeof value === 'string' && hasControlCharacter(value)) {
      drop(name, 'the value must be one line without control characters');
      continue;
    }
    if (AGENT_MANAGED.has(key)) {
      // Patroni's own examples set these to what the agent sets anyway: no warning for those.
      const isAgentValue =
        SAME_AS_AGENT.has(key) && (value === true || /^(on|true|yes|1)$/i.test(String(value)));
      if (!isAgentValue) drop(name, 'set by the agent');
      continue;
    }
    const rule = CLUSTER_WIDE[key];
    if (rule && source === 'local') {
      drop(name, "cluster-wide: set it in the cluster's config (bootstrap.dcs or edit-config)");
      continue;
    }
    if (rule && !rule.rule(value)) {
      drop(name, `expected ${rule.expected}`);
      continue;
    }
    const info = known?.get(key);
    if (known && !info && !key.includes('.')) {
      drop(name, 'not a parameter of this PostgreSQL');
      continue;
    }
    if (info && !fitsType(info, value)) {
      drop(name, `expected a ${info.type.toLowerCase()} value`);
      continue;
    }
    accepted[name] = key === 'wal_level' && String(value).toLowerCase() === 'hot_standby' ? 'replica' : value;
  }
  return { accepted, dropped };
}
