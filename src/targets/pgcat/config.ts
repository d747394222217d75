import { z } from 'zod';
import { FileOwnerSchema } from '../../config/owner.js';
import { SecretFields } from '../../config/secret.js';
import { adminTimeoutFields, requireReloadCommand } from '../pooler-config.js';

/** TOML bare keys, so a pool name can never open a new table or key. */
export const TOML_KEY = /^[A-Za-z0-9_-]{1,63}$/;

const bareKey = (what: string) => z.string().regex(TOML_KEY, `${what} must match ${TOML_KEY.source}`);
const Scalar = z.union([z.string(), z.number(), z.boolean()]);
/** Extra keys of a TOML table; the keys the target writes itself are refused. */
const settings = (reserved: readonly string[]) =>
  z
    .record(bareKey('setting name'), Scalar)
    .default({})
    .refine((s) => !Object.keys(s).some((k) => reserved.includes(k)), {
      message: `may not set ${reserved.join(', ')} (the target writes them)`,
    });

const UserSchema = z
  .object({
    username: z.string().min(1).max(63),
    ...SecretFields,
    pool_size: z.number().int().positive().default(20),
    min_pool_size: z.number().int().nonnegative().optional(),
    statement_timeout: z.number().int().nonnegative().optional(),
  })
  .strict();

const PoolSchema = z
  .object({
    /** Patroni scope whose leader is this pool's `"primary"`. */
    cluster: bareKey('cluster'),
    /** Database on the PostgreSQL server (default: the pool name). */
    database: z.string().min(1).max(63).optional(),
    pool_mode: z.enum(['transaction', 'session']).default('transaction'),
    /** Add eligible replicas as `"replica"` servers. */
    replicas: z.boolean().default(false),
    users: z.array(UserSchema).min(1),
    settings: settings(['pool_mode', 'users', 'shards']),
  })
  .strict();

export const PgcatConfigSchema = z
  .object({
    output: z.string().min(1),
    template: z.string().min(1).optional(),
    owner: FileOwnerSchema.optional(),
    /** Extra command validating the staged file (`{{file}}`), after the built-in TOML + rules check. */
    check: z.string().min(1).optional(),
    general: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: z.number().int().min(1).max(65535).default(6432),
        admin: z.object({ username: z.string().min(1).max(63), ...SecretFields }).strict(),
        settings: settings(['host', 'port', 'admin_username', 'admin_password']),
      })
      .strict(),
    pools: z
      .record(bareKey('pool name'), PoolSchema)
      .refine((p) => Object.keys(p).length > 0, 'at least one pool'),
    reload: z
      .object({
        /** `admin`: RELOAD on pgcat's admin console; `signal`: SIGHUP to `pid`/`pidfile`; `command`: run it. */
        method: z.enum(['admin', 'signal', 'command']).default('admin'),
        pid: z.number().int().positive().optional(),
        pidfile: z.string().min(1).optional(),
        command: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    /** Where pgcat's admin console listens (RELOAD, SHOW DATABASES). Default 127.0.0.1:general.port. */
    console: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(1).max(65535).optional(),
      })
      .strict()
      .optional(),
    /** Verify the reload with SHOW DATABASES (needs the admin console). Default: on with method admin or a console. */
    verify: z.boolean().optional(),
    timeouts: z.object(adminTimeoutFields).strict().default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const r = c.reload;
    if (r.method === 'signal' && (r.pid === undefined) === (r.pidfile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['reload'],
        message: 'method signal needs exactly one of pid, pidfile',
      });
    }
    requireReloadCommand(r, ctx);
  });

export type PgcatConfig = z.infer<typeof PgcatConfigSchema>;
