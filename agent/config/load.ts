import { readFile } from 'node:fs/promises';
import { isAbsolute, dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError, SwitchyardError, describeError } from '../../src/errors.js';
import type { EtcdConnection } from '../../src/dcs/connect.js';
import { AgentConfigSchema, unknownKeys, type AgentConfigInput } from './schema.js';
import { etcdConnectionOf, patroniEtcd3Problems } from '../../src/dcs/patroni-etcd3.js';

export interface Credentials {
  readonly username: string;
  readonly password: string | undefined;
}

/** The agent's settings, normalised from patroni.yml. Passwords live here and nowhere in logs. */
export interface AgentConfig {
  readonly file: string;
  readonly scope: string;
  readonly namespace: string;
  readonly name: string;
  readonly restapi: {
    readonly listenHost: string;
    readonly listenPort: number;
    readonly connectAddress: string;
    readonly auth: Credentials | null;
    /** HTTPS when `certfile` is set (Patroni's restapi TLS keys); files are read when the server starts. */
    readonly tls: RestApiTls | null;
    /** `restapi.allow_unauthenticated_writes: true`: unsafe endpoints open without authentication. */
    readonly allowUnauthenticatedWrites: boolean;
  };
  readonly etcd: EtcdConnection;
  /** `bootstrap.dcs` as written to `/config` by the bootstrap winner. */
  readonly bootstrapDcs: Readonly<Record<string, unknown>>;
  /** initdb arguments, e.g. `--encoding=UTF8`, `--data-checksums`. */
  readonly initdbArgs: readonly string[];
  readonly bootstrapPgHba: readonly string[];
  readonly bootstrapUsers: Readonly<
    Record<string, { password: string | undefined; options: readonly string[] }>
  >;
  readonly postgresql: {
    readonly listenAddresses: string;
    readonly port: number;
    readonly connectHost: string;
    readonly connectPort: number;
    readonly dataDir: string;
    readonly binDir: string;
    readonly pgpass: string;
    readonly database: string;
    readonly superuser: Credentials;
    readonly replication: Credentials;
    readonly rewind: Credentials | null;
    readonly parameters: Readonly<Record<string, string | number | boolean>>;
    readonly pgHba: readonly string[] | null;
    /** Wipe and re-clone when pg_rewind fails (Patroni's option; default false: stay stopped). */
    readonly removeDataDirectoryOnRewindFailure: boolean;
    /** Wipe and re-clone a replica that cannot start on the leader's timeline (default false). */
    readonly removeDataDirectoryOnDivergedTimelines: boolean;
  };
  /** Effective tags as published in the member key (false built-in booleans omitted, like Patroni). */
  readonly tags: Readonly<Record<string, unknown>>;
}

export interface RestApiTls {
  readonly certfile: string;
  readonly keyfile: string | undefined;
  readonly keyfilePassword: string | undefined;
  readonly cafile: string | undefined;
  /** `required`: no TLS connection without a client certificate signed by `cafile`; `optional`: unsafe requests need one. */
  readonly verifyClient: 'none' | 'optional' | 'required';
}

export interface LoadResult {
  readonly config: AgentConfig;
  /** One line per key the agent does not implement: "node.yml: watchdog: not implemented by the agent; ignored". */
  readonly warnings: readonly string[];
}

const DEFAULT_BIN_DIR = '/usr/lib/postgresql/15/bin';

function splitHostPort(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':');
  return { host: value.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(value.slice(i + 1)) };
}

function credentials(
  c: { username: string; password?: string | undefined } | null | undefined,
): Credentials | null {
  return c ? { username: c.username, password: c.password } : null;
}

function truthy(v: unknown): boolean {
  return v === true || v === 'true' || v === 'on' || v === 'yes';
}

/** Patroni's `get_effective_tags`: drop false built-in booleans; keep user tags as written. */
export function effectiveTags(tags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(tags)) {
    if (['nofailover', 'noloadbalance', 'clonefrom', 'nosync', 'nostream'].includes(k)) {
      if (truthy(v)) out[k] = true;
      else if (k === 'nofailover' && tags['failover_priority'] !== undefined) out[k] = false;
    } else if (v !== null && v !== undefined) out[k] = v;
  }
  return out;
}

function initdbArgs(
  options: ReadonlyArray<string | Record<string, string | number>> | null | undefined,
): string[] {
  const out: string[] = [];
  for (const o of options ?? []) {
    if (typeof o === 'string') out.push(`--${o}`);
    else for (const [k, v] of Object.entries(o)) out.push(`--${k}=${v}`);
  }
  return out;
}

function problemsOf(file: string, error: z.ZodError): string[] {
  return error.issues.map(
    (i) => `${file}: ${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`,
  );
}

/** Cross-field rules Patroni enforces (or silently repairs); the agent refuses instead of guessing. */
function impossibleValues(file: string, c: AgentConfigInput): string[] {
  const out: string[] = [];
  const dcs = c.bootstrap?.dcs;
  if (dcs) {
    const ttl = dcs.ttl ?? 30;
    const loop = dcs.loop_wait ?? 10;
    const retry = dcs.retry_timeout ?? 10;
    if (loop + 2 * retry > ttl) {
      out.push(
        `${file}: bootstrap.dcs: loop_wait + 2 × retry_timeout must be ≤ ttl, got ${loop} + 2 × ${retry} > ${ttl}`,
      );
    }
  }
  const api = c.restapi;
  const isClientCertRequired = api.verify_client === 'required' && api.cafile !== undefined;
  if (!api.authentication && api.allow_unauthenticated_writes !== true && !isClientCertRequired) {
    out.push(
      `${file}: restapi.authentication: required: without it anyone who reaches the REST port could restart, reinitialize, switch over, fail over, reload or PATCH /config; set restapi.authentication.{username,password} (or verify_client: required with cafile), or restapi.allow_unauthenticated_writes: true to leave them open`,
    );
  }
  if ((api.keyfile || api.cafile || api.verify_client) && !api.certfile)
    out.push(`${file}: restapi.certfile: required when keyfile, cafile or verify_client is set`);
  if (api.verify_client && api.verify_client !== 'none' && !api.cafile)
    out.push(`${file}: restapi.cafile: required when verify_client is ${api.verify_client}`);
  for (const p of patroniEtcd3Problems(c.etcd3)) out.push(`${file}: ${p}`);
  return out;
}

/** Parses and validates patroni.yml text. `file` only names the source in messages. */
export function parseAgentConfig(text: string, file: string): LoadResult {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid YAML: ${describeError(err)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${file} must be a YAML mapping (scope, name, restapi, etcd3, postgresql, ...)`);
  }
  const result = AgentConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = problemsOf(file, result.error);
    throw new ConfigError(
      `${file} is invalid (${problems.length} problem${problems.length > 1 ? 's' : ''})`,
      problems,
    );
  }
  const c = result.data;
  const impossible = impossibleValues(file, c);
  if (impossible.length)
    throw new ConfigError(`${file} is invalid (${impossible.length} problem(s))`, impossible);

  const warnings = unknownKeys(raw).map((k) => `${file}: ${k}: not implemented by the agent; ignored`);
  const base = isAbsolute(file) ? dirname(file) : resolve(dirname(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const api = splitHostPort(c.restapi.listen);
  const pgListen = splitHostPort(c.postgresql.listen);
  const pgConnect = splitHostPort(c.postgresql.connect_address);
  const dcs = { ...(c.bootstrap?.dcs ?? {}) } as Record<string, unknown>;
  const users: Record<string, { password: string | undefined; options: string[] }> = {};
  for (const [n, u] of Object.entries(c.bootstrap?.users ?? {}))
    users[n] = { password: u.password, options: u.options ?? [] };

  const config: AgentConfig = {
    file,
    scope: c.scope,
    namespace: c.namespace ?? '/service',
    name: c.name,
    restapi: {
      listenHost: api.host,
      listenPort: api.port,
      connectAddress: c.restapi.connect_address,
      auth: credentials(c.restapi.authentication),
      tls: c.restapi.certfile
        ? {
            certfile: abs(c.restapi.certfile),
            keyfile: c.restapi.keyfile === undefined ? undefined : abs(c.restapi.keyfile),
            keyfilePassword: c.restapi.keyfile_password,
            cafile: c.restapi.cafile === undefined ? undefined : abs(c.restapi.cafile),
            verifyClient: c.restapi.verify_client ?? 'none',
          }
        : null,
      allowUnauthenticatedWrites: c.restapi.allow_unauthenticated_writes === true,
    },
    etcd: etcdConnectionOf(c.etcd3),
    bootstrapDcs: dcs,
    initdbArgs: initdbArgs(c.bootstrap?.initdb),
    bootstrapPgHba: c.bootstrap?.pg_hba ?? [],
    bootstrapUsers: users,
    postgresql: {
      listenAddresses: pgListen.host,
      port: pgListen.port,
      connectHost: pgConnect.host,
      connectPort: pgConnect.port,
      dataDir: abs(c.postgresql.data_dir),
      binDir: c.postgresql.bin_dir ?? DEFAULT_BIN_DIR,
      // Default next to the data directory (owned by the PostgreSQL OS user), never a shared /tmp.
      pgpass: abs(c.postgresql.pgpass ?? join(dirname(abs(c.postgresql.data_dir)), `.pgpass-${c.name}`)),
      database: c.postgresql.database ?? 'postgres',
      superuser: credentials(c.postgresql.authentication.superuser) as Credentials,
      replication: credentials(c.postgresql.authentication.replication) as Credentials,
      rewind: credentials(c.postgresql.authentication.rewind),
      parameters: c.postgresql.parameters ?? {},
      pgHba: c.postgresql.pg_hba ?? null,
      removeDataDirectoryOnRewindFailure: c.postgresql.remove_data_directory_on_rewind_failure === true,
      removeDataDirectoryOnDivergedTimelines:
        c.postgresql.remove_data_directory_on_diverged_timelines === true,
    },
    tags: effectiveTags((c.tags ?? {}) as Record<string, unknown>),
  };
  return { config, warnings };
}

/** Reads patroni.yml; every failure is a ConfigError naming the file (and key path when it is a value). */
export async function loadAgentConfig(file: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new SwitchyardError('SY_ERR_CONFIG_UNREADABLE', `cannot read ${file}: ${describeError(err)}`, {
      cause: err,
      exitCode: 2,
    });
  }
  return parseAgentConfig(text, file);
}
