import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { EtcdConnection } from '../dcs/connect.js';
import { NAME_PATTERN } from '../cluster/validate.js';
import { ConfigError } from '../errors.js';
import { TARGET_FACTORIES, type TargetsConfig } from '../targets/index.js';
import { checkHost } from './host.js';
import { clusterIssues, collectListeners, listenerIssues, looseConfigIssues } from './listeners.js';
import { SecretFields, resolveSecret, type SecretSource } from './secret.js';
import { formatIssues, parseByteSize, parseListen } from './util.js';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port');
const scopeName = z.string().regex(NAME_PATTERN, 'expected a Patroni scope name ([A-Za-z0-9_.-])');

const DcsSchema = z
  .object({
    type: z.enum(['etcd3', 'etcd']).default('etcd3'),
    hosts: z.union([z.array(z.string().min(1)).min(1), z.string().min(1)]),
    username: z.string().min(1).optional(),
    ...SecretFields,
    tls: z
      .object({
        ca: z.string().min(1),
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
      })
      .strict()
      .refine((t) => (t.cert === undefined) === (t.key === undefined), 'cert and key must be given together')
      .optional(),
    request_timeout_ms: z.number().int().min(100).max(60_000).default(2000),
    check_interval_ms: z.number().int().min(100).max(60_000).default(1000),
  })
  .strict();

const ProbeSchema = z
  .object({
    method: z.enum(['auto', 'member', 'sql', 'rest']).default('auto'),
    interval_ms: z.number().int().min(5).max(5000).default(20),
    timeout_ms: z.number().int().min(100).max(600_000).default(60_000),
    user: z.string().min(1).default('postgres'),
    dbname: z.string().min(1).default('postgres'),
    ...SecretFields,
  })
  .strict();

/**
 * The router's leader health (src/router/leader-health/): once a leader is writable, one idle session is held
 * on it (logged in with routing.writable_probe's user, dbname and password) and its PostgreSQL port is probed,
 * so a primary that dies while the leader key still names it is seen within milliseconds: /status, the
 * timeline and metrics show the leader lost, and PgBouncer pauses its databases at once. Replaces
 * `targets.pgbouncer.liveness` (still read, with a warning, when this section is absent).
 */
const LeaderHealthSchema = z
  .object({
    /**
     * `auto`: on when a pgbouncer target is configured (it pauses on a lost leader); `true`: on for any router
     * (HAProxy, pgcat and VIP routers then show a lost leader in /status and metrics); `false`: off.
     */
    enabled: z.union([z.literal('auto'), z.boolean()]).default('auto'),
    /** TCP probe interval of each writable leader's PostgreSQL port. */
    interval_ms: z.number().int().min(20).max(10_000).default(100),
    /** Deadline of one TCP probe. */
    timeout_ms: z.number().int().min(50).max(10_000).default(500),
    /** TCP probe timeouts in a row that count as lost (a refused connection counts at once). */
    failures: z.number().int().min(1).max(20).default(2),
    /** Also hold one idle session on the leader: when it ends, the leader counts as lost at once, then is probed. */
    hold: z.boolean().default(true),
  })
  .strict();

type LeaderHealthConfig = Omit<z.infer<typeof LeaderHealthSchema>, 'enabled'> & { enabled: boolean };

export function routerConfigSchema() {
  const targetShape = Object.fromEntries(TARGET_FACTORIES.map((f) => [f.key, f.schema.optional()]));
  return z
    .object({
      dcs: DcsSchema,
      namespace: z
        .string()
        .regex(/^\/?[A-Za-z0-9_./-]*$/, 'expected a path like /service')
        .default('/service'),
      clusters: z.array(z.union([scopeName, z.literal('*')])).min(1),
      api: z
        .object({ listen: hostPort.default('127.0.0.1:8009') })
        .strict()
        .default({}),
      routing: z
        .object({
          max_replica_lag: z.union([z.number().int().nonnegative(), z.string()]).nullable().default('1MB'),
          on_dcs_loss: z.enum(['keep', 'fail_closed']).default('keep'),
          writable_probe: ProbeSchema.default({}),
          /**
           * The router's leader health: a session held on each writable leader and a TCP probe of its port,
           * so a primary that dies while the key still names it is seen within milliseconds (/status, the
           * timeline, metrics; PgBouncer pauses at once). Logs in with `writable_probe`'s user, dbname, password.
           */
          leader_health: LeaderHealthSchema.optional(),
        })
        .strict()
        .default({}),
      log: z
        .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info') })
        .strict()
        .default({}),
      targets: z
        .object(targetShape)
        .strict()
        .refine((t) => Object.values(t).some((v) => v !== undefined), {
          message: `at least one target is required (${TARGET_FACTORIES.map((f) => f.key).join(', ')})`,
        }),
    })
    .strict()
    .superRefine((c, ctx) => {
      if (c.clusters.includes('*') && c.clusters.length > 1) {
        ctx.addIssue({
          code: 'custom',
          message: '"*" follows every scope and cannot be combined with names',
          path: ['clusters'],
        });
      }
      // The whole-config pass: what no single section can see (each target's schema checks its own keys).
      const targets = c.targets as TargetsConfig;
      for (const issue of [
        ...listenerIssues(collectListeners(c.api.listen, targets)),
        ...clusterIssues(c.clusters, targets),
      ])
        ctx.addIssue({ code: 'custom', message: issue.message, path: [...issue.path] });
    });
}

type Parsed = z.infer<ReturnType<typeof routerConfigSchema>>;

export interface RouterConfig extends Omit<Parsed, 'dcs' | 'routing' | 'api' | 'targets'> {
  readonly path: string;
  /** Each configured layer's config, validated by that layer's schema (see TARGET_FACTORIES). */
  readonly targets: TargetsConfig;
  readonly dir: string;
  readonly dcs: Parsed['dcs'] & { hosts: string[]; password: string | undefined };
  readonly api: { listen: { host: string; port: number } };
  readonly routing: Omit<Parsed['routing'], 'max_replica_lag' | 'writable_probe' | 'leader_health'> & {
    maxReplicaLagBytes: number | null;
    writable_probe: Parsed['routing']['writable_probe'] & { password: string | undefined };
    /** `enabled: auto` resolved; from `targets.pgbouncer.liveness` when only that (deprecated) key is set. */
    leader_health: LeaderHealthConfig;
  };
  /** Deprecated keys found, as sentences the router logs as warnings at start. */
  readonly deprecations: readonly string[];
}

/**
 * `routing.leader_health` with `auto` resolved. A config that still sets `targets.pgbouncer.liveness` (the
 * same keys, from before leader health moved into the router) and no `routing.leader_health` gets its values,
 * and a deprecation sentence; when both are set, the old key is ignored (also said).
 */
function resolveLeaderHealth(
  path: string,
  given: z.infer<typeof LeaderHealthSchema> | undefined,
  targets: TargetsConfig,
  raw: unknown,
): { health: LeaderHealthConfig; deprecations: string[] } {
  const old = targets.pgbouncer?.liveness;
  const hasOld =
    isObject(raw) && isObject(raw['targets']) && isObject(raw['targets']['pgbouncer'])
      ? raw['targets']['pgbouncer']['liveness'] !== undefined
      : false;
  const deprecations: string[] = [];
  if (hasOld && old) {
    deprecations.push(
      given
        ? `${path}: targets.pgbouncer.liveness is deprecated and ignored: routing.leader_health is set (remove the old key)`
        : `${path}: targets.pgbouncer.liveness is deprecated: move it to routing.leader_health (same keys); it is used as routing.leader_health for now`,
    );
  }
  const chosen = given ?? (hasOld && old ? old : LeaderHealthSchema.parse({}));
  const enabled = chosen.enabled === 'auto' ? targets.pgbouncer !== undefined : chosen.enabled;
  return { health: { ...chosen, enabled }, deprecations };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface LoadOptions {
  /**
   * Also check the config against this host (default true): directories of written files exist and are
   * writable, templates, password and TLS files are readable, secrets' environment variables are set,
   * owners exist, commands resolve. `false` checks only what the file itself says (and leaves secrets
   * unresolved): for `switchyard status` and for `check --no-host` in the CI of a config repository.
   */
  readonly host?: boolean;
}

/** A checked config and what the checks looked at (`switchyard check` prints it). */
export interface CheckedConfig {
  readonly config: RouterConfig;
  readonly files: number;
  readonly commands: number;
}

/**
 * Reads, parses and validates router.yml completely, before anything runs. Every problem found is in
 * the ConfigError's `problems` as "file: key.path: reason" (exit code 2).
 */
export function loadRouterConfig(path: string, options: LoadOptions = {}): RouterConfig {
  return checkRouterConfig(path, options).config;
}

/** `loadRouterConfig`, also returning how many files and commands the host checks looked at. */
export function checkRouterConfig(path: string, options: LoadOptions = {}): CheckedConfig {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError(`cannot read config ${absolute}: ${code}`, [], { cause: err });
  }
  const isHost = options.host !== false;
  // Secret and host problems are reported together; schema problems alone (nothing typed to check).
  const parsed = parseCollecting(text, absolute, { secrets: isHost });
  if (!isHost) {
    if (parsed.problems.length > 0) throw configProblems(absolute, parsed.problems);
    return { config: parsed.config, files: 0, commands: 0 };
  }
  const { config } = parsed;
  const host = checkHost({ dir: config.dir, targets: config.targets, tls: config.dcs.tls });
  const problems = [...parsed.problems, ...host.problems.map((p) => `${absolute}: ${p}`)];
  if (problems.length > 0) throw configProblems(absolute, problems);
  return { config, files: host.files, commands: host.commands };
}

function configProblems(path: string, problems: string[]): ConfigError {
  return new ConfigError(`${path} has ${problems.length} problem${problems.length > 1 ? 's' : ''}`, problems);
}

/** Parses router.yml text (no host checks); every problem in one ConfigError. */
export function parseRouterConfig(
  text: string,
  path: string,
  options: { secrets?: boolean } = {},
): RouterConfig {
  const { config, problems } = parseCollecting(text, path, options);
  if (problems.length > 0) throw configProblems(path, problems);
  return config;
}

/** Throws on YAML and schema problems; returns the config with the problems of resolving its secrets. */
function parseCollecting(
  text: string,
  path: string,
  options: { secrets?: boolean },
): { config: RouterConfig; problems: string[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => `${path}: ${e.message.split('\n')[0]}`);
    throw new ConfigError(`${path} is not valid YAML`, problems);
  }
  const raw: unknown = doc.toJS();
  const result = routerConfigSchema().safeParse(raw);
  if (!result.success) {
    const problems = formatIssues(path, result.error);
    for (const issue of looseConfigIssues(raw)) {
      const line = `${path}: ${issue.path.join('.')}: ${issue.message}`;
      if (!problems.includes(line)) problems.push(line);
    }
    throw configProblems(path, problems);
  }
  const c = result.data;
  const dir = dirname(path);
  const problems: string[] = [];
  const secret = (source: SecretSource, key: string): string | undefined => {
    if (options.secrets === false) return undefined;
    try {
      return resolveSecret(source, `${path}: ${key}`, dir);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err.message);
      return undefined;
    }
  };
  const hosts =
    typeof c.dcs.hosts === 'string'
      ? c.dcs.hosts
          .split(',')
          .map((h) => h.trim())
          .filter(Boolean)
      : c.dcs.hosts;
  const lag = c.routing.max_replica_lag;
  let maxReplicaLagBytes: number | null = null;
  try {
    maxReplicaLagBytes = lag === null ? null : typeof lag === 'number' ? lag : parseByteSize(lag);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(`${path}: routing.max_replica_lag: ${err.message}`);
  }
  const leaderHealth = resolveLeaderHealth(path, c.routing.leader_health, c.targets as TargetsConfig, raw);
  const config: RouterConfig = {
    ...c,
    deprecations: leaderHealth.deprecations,
    // The schema is built from TARGET_FACTORIES, each key validated by its own layer's schema.
    targets: c.targets as TargetsConfig,
    path,
    dir,
    dcs: { ...c.dcs, hosts, password: secret(c.dcs, 'dcs') },
    // The schema's whole-config pass checked the address and its port range.
    api: { listen: parseListen(c.api.listen) },
    routing: {
      ...c.routing,
      maxReplicaLagBytes,
      leader_health: leaderHealth.health,
      writable_probe: {
        ...c.routing.writable_probe,
        password: secret(c.routing.writable_probe, 'routing.writable_probe'),
      },
    },
  };
  return { config, problems };
}

/** The etcd connection settings of a router config (used by `route`, `render` and `switchover`). */
export function etcdConnection(config: RouterConfig): EtcdConnection {
  return {
    hosts: config.dcs.hosts,
    username: config.dcs.username,
    password: config.dcs.password,
    tls: config.dcs.tls,
    requestTimeoutMs: config.dcs.request_timeout_ms,
  };
}
