import { z } from 'zod';
import { NAME_PATTERN } from '../../cluster/validate.js';

const duration = z.string().regex(/^\d+(us|ms|s|m|h|d)?$/, 'expected an HAProxy time like 2s, 500ms or 30m');
const bind = z
  .string()
  .regex(
    /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.*-]*):\d{1,5}$/,
    'expected address:port for a bind line, e.g. 127.0.0.1:5000',
  );
const scope = z.string().regex(NAME_PATTERN, 'expected a Patroni scope name');
/**
 * The stats socket: a Unix socket path, or `tcp://host:port` for a remote HAProxy's
 * `stats socket ipv4@…:port level admin` (no authentication: bind it to a management network only).
 */
const runtimeApi = z
  .string()
  .regex(
    /^(\/[^\s]*|tcp:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5})$/,
    'expected a Unix socket path like /run/haproxy/admin.sock or tcp://host:port, e.g. tcp://192.0.2.1:9999',
  );
const path = z.string().regex(/^\/[A-Za-z0-9_./?=&-]*$/, 'expected a URL path like /primary');

/** `targets.haproxy` in router.yml. */
export const HaproxyConfigSchema = z
  .object({
    /** The rendered file; omit it to drive a remote HAProxy through a `tcp://` runtime API only. */
    output: z.string().min(1).optional(),
    template: z.string().min(1).optional(),
    check: z.string().min(1).nullable().default('haproxy -c -q -f {{file}}'),
    reload: z.string().min(1).nullable().default(null),
    command_timeout_ms: z.number().int().min(100).max(600_000).default(15_000),
    /** Reload attempts before the previous file is restored. */
    reload_attempts: z.number().int().min(1).max(20).default(3),
    /** Stats socket with `level admin`: enables the runtime-API fast path. */
    runtime_api: runtimeApi.nullable().default(null),
    /** Written from `show servers state` before each reload and loaded by HAProxy at start. */
    state_file: z.string().min(1).nullable().default(null),
    /**
     * How long a member whose key is gone (a killed or renamed node) keeps its server lines as a backup.
     * Within it a returning member needs no reload; after it the lines are dropped (one reload).
     */
    gone_member_retention_ms: z.number().int().min(0).max(86_400_000).default(600_000),
    hard_stop_after: duration.default('30s'),
    maxconn: z.number().int().positive().default(1000),
    /**
     * `retries` in the defaults section. HAProxy waits min(timeout connect, 1 s) before each retry of a
     * refused connect: 20 × 100 ms holds a client's connect ~2 s across a switchover instead of failing it.
     */
    retries: z.number().int().min(0).max(100).default(20),
    timeouts: z
      .object({
        connect: duration.default('100ms'),
        client: duration.default('30m'),
        server: duration.default('30m'),
        check: duration.default('2s'),
      })
      .strict()
      .default({}),
    checks: z
      .object({
        primary: path.default('/primary'),
        replicas: path.default('/replica'),
        inter: duration.default('3s'),
        fall: z.number().int().min(1).max(100).default(3),
        // rise 1 lets HAProxy's own check raise a leader before promotion (Patroni's /primary says 200
        // once the lock is held): read-only errors. docs/haproxy.md, "checks".
        rise: z
          .number()
          .int()
          .min(2, 'must be 2 or more: with rise 1 a check can route writes to a not yet promoted leader')
          .max(100)
          .default(2),
      })
      .strict()
      .default({}),
    frontends: z.record(scope, z.object({ primary: bind, replicas: bind.optional() }).strict()),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.output !== undefined) return;
    const issue = (path: string, message: string) =>
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [path], message });
    if (!c.runtime_api?.startsWith('tcp://'))
      issue(
        'output',
        'is required unless runtime_api is a tcp://host:port of a remote HAProxy (remote mode: no file)',
      );
    if (c.reload !== null)
      issue('reload', 'must be unset without output: the router cannot reload a remote HAProxy');
    if (c.state_file !== null) issue('state_file', 'must be unset without output (the state file is local)');
    if (c.template !== undefined) issue('template', 'must be unset without output: no file is rendered');
  });

export type HaproxyConfig = z.infer<typeof HaproxyConfigSchema>;
