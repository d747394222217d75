import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { EtcdConnection } from '../dcs/connect.js';
import { ConfigError } from '../errors.js';
import { TARGET_FACTORIES, type TargetsConfig } from '../targets/index.js';
import { SecretFields, resolveSecret } from './secret.js';
import { formatIssues, parseByteSize, parseListen } from './util.js';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port');
const scopeName = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'expected a Patroni scope name ([A-Za-z0-9_.-])');

const DcsSchema = z
  .object({
    type: z.literal('etcd3'),
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
    .refine((c) => !c.clusters.includes('*') || c.clusters.length === 1, {
      message: '"*" follows every scope and cannot be combined with names',
      path: ['clusters'],
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
  readonly routing: Omit<Parsed['routing'], 'max_replica_lag' | 'writable_probe'> & {
    maxReplicaLagBytes: number | null;
    writable_probe: Parsed['routing']['writable_probe'] & { password: string | undefined };
  };
}

/** Reads, parses and validates router.yml. Errors name the file, the key path and what is wrong. */
export function loadRouterConfig(path: string): RouterConfig {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read config ${absolute}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      [],
      {
        cause: err,
      },
    );
  }
  return parseRouterConfig(text, absolute);
}

export function parseRouterConfig(text: string, path: string): RouterConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => `${path}: ${e.message.split('\n')[0]}`);
    throw new ConfigError(`${path} is not valid YAML`, problems);
  }
  const result = routerConfigSchema().safeParse(doc.toJS());
  if (!result.success) {
    const problems = formatIssues(path, result.error);
    throw new ConfigError(
      `${path} has ${problems.length} problem${problems.length > 1 ? 's' : ''}`,
      problems,
    );
  }
  const c = result.data;
  const dir = dirname(path);
  const where = (key: string) => `${path}: ${key}`;
  const hosts =
    typeof c.dcs.hosts === 'string'
      ? c.dcs.hosts
          .split(',')
          .map((h) => h.trim())
          .filter(Boolean)
      : c.dcs.hosts;
  const lag = c.routing.max_replica_lag;
  let maxReplicaLagBytes: number | null;
  try {
    maxReplicaLagBytes = lag === null ? null : typeof lag === 'number' ? lag : parseByteSize(lag);
    return {
      ...c,
      // The schema is built from TARGET_FACTORIES, each key validated by its own layer's schema.
      targets: c.targets as TargetsConfig,
      path,
      dir,
      dcs: { ...c.dcs, hosts, password: resolveSecret(c.dcs, where('dcs'), dir) },
      api: { listen: parseListen(c.api.listen) },
      routing: {
        ...c.routing,
        maxReplicaLagBytes,
        writable_probe: {
          ...c.routing.writable_probe,
          password: resolveSecret(c.routing.writable_probe, where('routing.writable_probe'), dir),
        },
      },
    };
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${path} has a problem`, [err.message]);
    throw err;
  }
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
