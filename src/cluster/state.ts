import type { z } from 'zod';
import { isLayoutKey } from './keys.js';
import { isSafeName, isSafeScope, parseEndpointUrl, truncate } from './validate.js';
import {
  DynamicConfigSchema,
  FailoverSchema,
  FailsafeSchema,
  HistorySchema,
  MemberValueSchema,
  StatusSchema,
  SyncSchema,
  type MemberValue,
} from './values.js';

/** One etcd key under a scope prefix, as read or watched. Values are raw, untrusted strings. */
export interface RawKey {
  /** Relative to the scope prefix: `leader`, `members/pg1`, `config`, ... */
  key: string;
  value: string;
  modRevision: number;
  /** etcd lease id as a decimal string; `'0'` when the key has no lease. */
  lease: string;
}

export type Role = 'primary' | 'replica' | 'standby_leader' | 'demoted' | 'promoted' | 'uninitialized';

export interface Member {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly api: { readonly host: string; readonly port: number; readonly url: string } | null;
  /** `primary` for both Patroni 3.x `master` and 4.x `primary`. */
  readonly role: Role;
  readonly state: string;
  readonly version: string | null;
  readonly timeline: number | null;
  /** Bytes; primary: flush LSN, replica: max(receive, replay). */
  readonly xlogLocation: number | null;
  readonly replicationState: string | null;
  readonly tags: Readonly<Record<string, unknown>>;
  readonly isNoLoadBalance: boolean;
  readonly isNoFailover: boolean;
  readonly modRevision: number;
  /** The raw parsed value, for tools that print it (never for rendering). */
  readonly value: MemberValue;
}

export interface LeaderKey {
  readonly name: string;
  readonly modRevision: number;
  readonly lease: string;
}

export interface DynamicConfig {
  readonly ttl: number;
  readonly loopWait: number;
  readonly retryTimeout: number;
  readonly maximumLagOnFailover: number;
  readonly isFailsafeMode: boolean;
  readonly isPaused: boolean;
  readonly synchronousMode: boolean | 'quorum';
  /** The whole parsed object, as Patroni wrote it. */
  readonly raw: Readonly<Record<string, unknown>>;
  readonly modRevision: number | null;
}

export interface InvalidValue {
  readonly scope: string;
  readonly key: string;
  readonly reason: string;
}

export interface ClusterState {
  readonly scope: string;
  readonly leader: LeaderKey | null;
  readonly members: ReadonlyMap<string, Member>;
  readonly config: DynamicConfig;
  /** `/status` optime (or legacy `optime/leader`), in bytes. */
  readonly optime: number | null;
  readonly initialize: string | null;
  readonly failover: z.infer<typeof FailoverSchema> | null;
  readonly sync: {
    readonly leader: string | null;
    /** `sync_standby`: the synchronous standbys, or in quorum mode the voters. */
    readonly standbys: readonly string[];
    /** Patroni 4 quorum mode (`synchronous_mode: quorum`): how many voters a commit needs; else null. */
    readonly quorum: number | null;
    readonly modRevision: number;
  } | null;
  readonly history: readonly (readonly (number | string | null)[])[];
  readonly failsafe: Readonly<Record<string, string>> | null;
  /** Values that failed validation; they are absent from the fields above. */
  readonly invalid: readonly InvalidValue[];
}

export const DEFAULT_CONFIG = {
  ttl: 30,
  loopWait: 10,
  retryTimeout: 10,
  maximumLagOnFailover: 1048576,
} as const;

function parseJson(value: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  try {
    return { ok: true, value: JSON.parse(value) as unknown };
  } catch {
    return { ok: false, reason: `not JSON: ${JSON.stringify(truncate(value))}` };
  }
}

function zodReason(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid value';
  const path = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return `${path}${issue.message}`;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Parse results by key object. The source keeps an unchanged key's object across watch events, so a
 * member's churn re-validates only that member, not every key of its cluster. Results are frozen.
 */
const parsedByKey = new WeakMap<RawKey, Parsed<unknown>>();

function cached<T>(raw: RawKey, parse: () => Parsed<T>): Parsed<T> {
  const hit = parsedByKey.get(raw);
  if (hit) return hit as Parsed<T>;
  const result = parse();
  parsedByKey.set(raw, result);
  return result;
}

function parseWith<T>(raw: string, schema: z.ZodType<T>): Parsed<T> {
  const json = parseJson(raw);
  if (!json.ok) return json;
  const result = schema.safeParse(json.value);
  return result.success ? { ok: true, value: result.data } : { ok: false, reason: zodReason(result.error) };
}

function isTrue(value: unknown): boolean {
  return value === true || (typeof value === 'string' && value.toLowerCase() === 'true');
}

export function parseMember(name: string, raw: RawKey): Parsed<Member> {
  if (!isSafeName(name))
    return { ok: false, reason: `member name ${JSON.stringify(truncate(name))} has unsafe characters` };
  const parsed = parseWith(raw.value, MemberValueSchema);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  const conn = parseEndpointUrl(v.conn_url, ['postgres:', 'postgresql:'], 5432);
  if (typeof conn === 'string') return { ok: false, reason: `conn_url: ${conn}` };
  let api: Member['api'] = null;
  if (v.api_url !== undefined) {
    const parsedApi = parseEndpointUrl(v.api_url, ['http:', 'https:'], 8008);
    if (typeof parsedApi === 'string') return { ok: false, reason: `api_url: ${parsedApi}` };
    api = { ...parsedApi, url: v.api_url };
  }
  const tags = v.tags ?? {};
  const priority = tags['failover_priority'];
  return {
    ok: true,
    value: Object.freeze({
      name,
      host: conn.host,
      port: conn.port,
      api,
      role: v.role === 'master' ? 'primary' : v.role,
      state: v.state,
      version: v.version ?? null,
      timeline: v.timeline ?? null,
      xlogLocation: v.xlog_location ?? null,
      replicationState: v.replication_state ?? null,
      tags: Object.freeze({ ...tags }),
      isNoLoadBalance: isTrue(tags['noloadbalance']),
      isNoFailover: isTrue(tags['nofailover']) || (typeof priority === 'number' && priority <= 0),
      modRevision: raw.modRevision,
      value: v,
    }),
  };
}

function parseConfig(raw: RawKey | undefined, invalid: InvalidValue[], scope: string): DynamicConfig {
  let value: z.infer<typeof DynamicConfigSchema> = {};
  if (raw) {
    const parsed = cached(raw, () => parseWith(raw.value, DynamicConfigSchema));
    if (parsed.ok) value = parsed.value;
    else invalid.push({ scope, key: 'config', reason: parsed.reason });
  }
  const sync = value.synchronous_mode;
  return Object.freeze({
    ttl: value.ttl ?? DEFAULT_CONFIG.ttl,
    loopWait: value.loop_wait ?? DEFAULT_CONFIG.loopWait,
    retryTimeout: value.retry_timeout ?? DEFAULT_CONFIG.retryTimeout,
    maximumLagOnFailover: value.maximum_lag_on_failover ?? DEFAULT_CONFIG.maximumLagOnFailover,
    isFailsafeMode: value.failsafe_mode === true,
    isPaused: value.pause === true,
    synchronousMode: sync === 'quorum' ? 'quorum' : sync === true || sync === 'on',
    raw: Object.freeze({ ...value }),
    modRevision: raw?.modRevision ?? null,
  });
}

/**
 * Builds an immutable snapshot of one cluster from its raw keys. Pure: every value is validated, and a
 * value that fails is left out and listed in `invalid` with the reason. A leader key naming an
 * unsafe name is invalid too, so nothing past this function sees a raw DCS string.
 */
export function buildClusterState(scope: string, keys: Iterable<RawKey>): ClusterState {
  const invalid: InvalidValue[] = [];
  const byKey = new Map<string, RawKey>();
  // A scope name from etcd (`clusters: ["*"]`) is untrusted too: an unsafe one contributes no key at all.
  if (!isSafeScope(scope)) invalid.push({ scope, key: '(scope)', reason: unsafeScopeReason(scope) });
  else for (const raw of keys) if (isLayoutKey(raw.key)) byKey.set(raw.key, raw);

  const members = new Map<string, Member>();
  for (const [key, raw] of byKey) {
    if (!key.startsWith('members/')) continue;
    const name = key.slice('members/'.length);
    const parsed = cached(raw, () => parseMember(name, raw));
    if (parsed.ok) members.set(name, parsed.value);
    else invalid.push({ scope, key, reason: parsed.reason });
  }

  let leader: LeaderKey | null = null;
  const leaderRaw = byKey.get('leader');
  if (leaderRaw) {
    if (isSafeName(leaderRaw.value)) {
      leader = Object.freeze({
        name: leaderRaw.value,
        modRevision: leaderRaw.modRevision,
        lease: leaderRaw.lease,
      });
    } else {
      invalid.push({
        scope,
        key: 'leader',
        reason: `member name ${JSON.stringify(truncate(leaderRaw.value))} has unsafe characters`,
      });
    }
  }

  let optime: number | null = null;
  const statusRaw = byKey.get('status');
  if (statusRaw) {
    const parsed = cached(statusRaw, () => parseWith(statusRaw.value, StatusSchema));
    if (parsed.ok) optime = typeof parsed.value === 'number' ? parsed.value : (parsed.value.optime ?? null);
    else invalid.push({ scope, key: 'status', reason: parsed.reason });
  }
  const legacyOptime = byKey.get('optime/leader');
  if (optime === null && legacyOptime && /^\d+$/.test(legacyOptime.value))
    optime = Number(legacyOptime.value);

  const optional = <T>(key: string, schema: z.ZodType<T>): T | null => {
    const raw = byKey.get(key);
    if (!raw) return null;
    const parsed = cached(raw, () => parseWith(raw.value, schema));
    if (parsed.ok) return parsed.value;
    invalid.push({ scope, key, reason: parsed.reason });
    return null;
  };

  const failover = optional('failover', FailoverSchema);
  const syncValue = optional('sync', SyncSchema);
  const history = optional('history', HistorySchema) ?? [];
  const failsafe = optional('failsafe', FailsafeSchema);
  const initRaw = byKey.get('initialize');

  return Object.freeze({
    scope,
    leader,
    members,
    config: parseConfig(byKey.get('config'), invalid, scope),
    optime,
    initialize: initRaw ? initRaw.value : null,
    failover: failover && Object.keys(failover).length > 0 ? failover : null,
    sync:
      syncValue && syncValue.leader
        ? Object.freeze({
            leader: syncValue.leader,
            standbys: (syncValue.sync_standby ?? '').split(',').filter((s) => s.length > 0),
            quorum: syncValue.quorum ?? null,
            modRevision: byKey.get('sync')?.modRevision ?? 0,
          })
        : null,
    history,
    failsafe,
    invalid,
  });
}

/** Why a scope name found in etcd is refused (the name is quoted and truncated: it is hostile). */
export function unsafeScopeReason(scope: string): string {
  return `scope name ${JSON.stringify(truncate(scope))} has unsafe characters (expected [A-Za-z0-9_.-])`;
}

/** Replication lag of a member in bytes against the cluster optime, or null when unknown. */
export function memberLag(state: ClusterState, member: Member): number | null {
  const reference =
    state.optime ?? (state.leader ? state.members.get(state.leader.name)?.xlogLocation : null) ?? null;
  if (reference === null || member.xlogLocation === null) return null;
  return Math.max(0, reference - member.xlogLocation);
}
