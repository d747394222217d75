import { z } from 'zod';
import { FileOwnerSchema } from '../../config/owner.js';
import { SecretFields } from '../../config/secret.js';
import { isSafeHost } from '../../cluster/validate.js';
import { adminTimeoutFields, requireReloadCommand } from '../pooler-config.js';

/**
 * Names that may appear unquoted in pgbouncer.ini: a `[databases]` key (libusual's ini parser accepts
 * `[A-Za-z0-9_.-]`) or a connection-string value (ends at the first space). Anything else is rejected,
 * never quoted: a config value that needs quoting is a config error.
 */
export const INI_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

/** True when `value` has a C0 control character or DEL (a newline would end an ini line). */
export function hasControlChars(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

const iniName = (what: string) =>
  z
    .string()
    .regex(INI_NAME, `${what} must match ${INI_NAME.source} (letters, digits, _ . -; at most 63 characters)`);

const dbName = iniName('database name').refine((v) => v !== 'pgbouncer', 'pgbouncer is the admin console');

const PoolOptions = {
  pool_size: z.number().int().nonnegative().optional(),
  min_pool_size: z.number().int().nonnegative().optional(),
  reserve_pool: z.number().int().nonnegative().optional(),
  max_db_connections: z.number().int().nonnegative().optional(),
  pool_mode: z.enum(['session', 'transaction', 'statement']).optional(),
};

const ReadOnlySchema = z
  .object({
    /** PgBouncer database name of the read-only entry (e.g. `app_ro`). */
    name: dbName,
    /** With no eligible replica: route reads to the leader (default) or drop the entry. */
    when_no_replica: z.enum(['leader', 'omit']).default('leader'),
    ...PoolOptions,
  })
  .strict();

const DatabaseSchema = z
  .object({
    /** Patroni scope whose leader this entry follows. */
    cluster: iniName('cluster'),
    /** Database on the PostgreSQL server; default: the entry's name. */
    dbname: iniName('dbname').optional(),
    /** Forced server user (`user=` in the entry). */
    user: iniName('user').optional(),
    /** Password of the forced user; the routing file is then written 0600. */
    ...SecretFields,
    auth_user: iniName('auth_user').optional(),
    ...PoolOptions,
    read_only: ReadOnlySchema.optional(),
  })
  .strict();

const SettingValue = z.union([z.string(), z.number(), z.boolean()]);

export const PgBouncerConfigSchema = z
  .object({
    /** `include`: a `[databases]` file the operator's pgbouncer.ini `%include`s. `full`: the whole pgbouncer.ini. */
    mode: z.enum(['include', 'full']).default('include'),
    /** The file Switchyard owns (relative paths resolve against the router config's directory). */
    output: z.string().min(1),
    /** Handlebars template; default `templates/pgbouncer-databases.ini.hbs` or `templates/pgbouncer.ini.hbs`. */
    template: z.string().min(1).optional(),
    /** Owner of the written file, `user` or `user:group` (PgBouncer must be able to read a 0600 file). */
    owner: FileOwnerSchema.optional(),
    /** Extra command validating the staged file (`{{file}}` = its path); runs before the swap. */
    check: z.string().min(1).optional(),
    /** `[pgbouncer]` settings, full mode only. */
    settings: z
      .record(z.string().regex(/^[a-z_][a-z0-9_]*$/, 'setting names are lower_snake_case'), SettingValue)
      .default({}),
    /** PgBouncer database name → what it routes to. */
    databases: z
      .record(dbName, DatabaseSchema)
      .refine((d) => Object.keys(d).length > 0, 'at least one database'),
    admin: z
      .object({
        /** Host, IP or Unix socket directory of PgBouncer's listener. */
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(1).max(65535).default(6432),
        user: z.string().min(1).default('pgbouncer'),
        ...SecretFields,
      })
      .strict()
      .default({}),
    reload: z
      .object({
        /** `admin`: RELOAD on the admin console. `command`: run `command` (e.g. `systemctl reload pgbouncer`). */
        method: z.enum(['admin', 'command']).default('admin'),
        command: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    /**
     * Deprecated: moved to `routing.leader_health` (same keys; the router watches each leader once for every
     * target). Still read, with a warning at start, when `routing.leader_health` is absent.
     */
    liveness: z
      .object({
        enabled: z.boolean().default(true),
        interval_ms: z.number().int().min(20).max(10_000).default(100),
        timeout_ms: z.number().int().min(50).max(10_000).default(500),
        failures: z.number().int().min(1).max(20).default(2),
        /** Deprecated: `routing.leader_health.hold`. */
        hold: z.boolean().default(true),
      })
      .strict()
      .default({}),
    timeouts: z
      .object({
        ...adminTimeoutFields,
        /** PAUSE waits for running transactions; past this it counts as stalled. */
        pause_ms: z.number().int().positive().default(5000),
        /** Longest a database stays paused waiting for a writable leader; then it is resumed anyway. */
        max_pause_ms: z.number().int().positive().default(30_000),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    requireReloadCommand(c.reload, ctx);
    if (c.mode === 'include' && Object.keys(c.settings).length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['settings'],
        message: 'only used in full mode (include mode writes [databases] only)',
      });
    }
    if (!c.admin.host.startsWith('/') && !isSafeHost(c.admin.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin', 'host'],
        message: 'must be an IP, a host name or a socket directory',
      });
    }
    const names = new Set<string>();
    for (const [name, db] of Object.entries(c.databases)) {
      for (const n of [name, db.read_only?.name]) {
        if (n === undefined) continue;
        if (names.has(n))
          ctx.addIssue({
            code: 'custom',
            path: ['databases', name],
            message: `database name ${n} is used twice`,
          });
        names.add(n);
      }
    }
    for (const [key, value] of Object.entries(c.settings)) {
      if (typeof value === 'string' && hasControlChars(value)) {
        ctx.addIssue({
          code: 'custom',
          path: ['settings', key],
          message: 'must not contain control characters or newlines',
        });
      }
    }
  });

export type PgBouncerConfig = z.infer<typeof PgBouncerConfigSchema>;
export type PgBouncerDatabaseConfig = z.infer<typeof DatabaseSchema>;
export type PoolOptionValues = { [K in keyof typeof PoolOptions]?: z.infer<(typeof PoolOptions)[K]> };
