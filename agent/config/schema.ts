import { z } from 'zod';
import { NAME_PATTERN } from '../../src/cluster/validate.js';
import { DynamicTimingFields } from '../../src/cluster/values.js';
import { PatroniEtcd3Schema } from '../../src/dcs/patroni-etcd3.js';

/**
 * Patroni's own YAML (`patroni.yml`), the parts the agent implements. Objects pass unknown keys through so
 * that `unknownKeys` can name each one as a warning; wrong types and impossible values fail here.
 */
const port = z.number().int().min(1).max(65535);
/** Patroni accepts `host:port` strings; the port is required where a listener is meant. */
const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:,]+|[^\s,]*):\d{1,5}$/, 'expected "host:port"')
  .refine((v) => port.safeParse(Number(v.slice(v.lastIndexOf(':') + 1))).success, 'port out of range');
const listenList = z
  .string()
  .regex(/^[^\s]+:\d{1,5}$/, 'expected "address[,address...]:port"')
  .refine((v) => port.safeParse(Number(v.slice(v.lastIndexOf(':') + 1))).success, 'port out of range');
/** YAML `key:` with nothing after it is null; Patroni treats that as empty. */
const nullable = <T extends z.ZodTypeAny>(schema: T) => schema.nullable().optional();
const boolish = z.union([z.boolean(), z.enum(['true', 'false', 'on', 'off', 'yes', 'no'])]);
/** A password; YAML reads an all-digit one as a number, Patroni uses it as a string. */
const password = z.union([z.string(), z.number()]).transform(String).optional();

export const CredentialsSchema = z
  .object({
    username: z.string().min(1),
    password,
  })
  .passthrough();

const pgParameters = z.record(z.union([z.string(), z.number(), z.boolean()]));

/** Why `synchronous_mode` other than a boolean/on/off (Patroni 4's `quorum`) is refused. */
export const QUORUM_REFUSAL =
  "expected true, false, 'on' or 'off'; quorum commit (Patroni 4's 'quorum') is not implemented by the agent: use synchronous_mode: on (or true) with synchronous_node_count";

export const DcsBootstrapSchema = z
  .object({
    ...DynamicTimingFields,
    synchronous_mode: z
      .union([z.boolean(), z.enum(['on', 'off'])], {
        errorMap: () => ({ message: QUORUM_REFUSAL }),
      })
      .optional(),
    synchronous_mode_strict: z.boolean().optional(),
    synchronous_node_count: z.number().int().positive().optional(),
    failsafe_mode: z.boolean().optional(),
    check_timeline: z.boolean().optional(),
    postgresql: nullable(
      z
        .object({
          use_pg_rewind: z.boolean().optional(),
          use_slots: z.boolean().optional(),
          parameters: nullable(pgParameters),
        })
        .passthrough(),
    ),
  })
  .passthrough();

/** `initdb: [{encoding: UTF8}, data-checksums]`: switches as strings, options as one-key maps. */
const initdbOptions = z.array(z.union([z.string(), z.record(z.union([z.string(), z.number()]))]));

export const AgentConfigSchema = z
  .object({
    scope: z.string().regex(NAME_PATTERN, 'expected a cluster name ([A-Za-z0-9_.-])'),
    namespace: z.string().min(1).optional(),
    name: z.string().regex(NAME_PATTERN, 'expected a member name ([A-Za-z0-9_.-])'),
    restapi: z
      .object({
        listen: hostPort,
        connect_address: hostPort,
        authentication: nullable(CredentialsSchema),
        /** Leave the unsafe endpoints open without authentication (the agent refuses to start otherwise). */
        allow_unauthenticated_writes: z.boolean().optional(),
        certfile: z.string().min(1).optional(),
        keyfile: z.string().min(1).optional(),
        keyfile_password: password,
        cafile: z.string().min(1).optional(),
        verify_client: z.enum(['none', 'optional', 'required']).optional(),
      })
      .passthrough(),
    etcd3: PatroniEtcd3Schema,
    bootstrap: nullable(
      z
        .object({
          dcs: nullable(DcsBootstrapSchema),
          initdb: nullable(initdbOptions),
          pg_hba: nullable(z.array(z.string())),
          users: nullable(
            z.record(
              z
                .object({
                  password,
                  options: nullable(z.array(z.string())),
                })
                .passthrough(),
            ),
          ),
        })
        .passthrough(),
    ),
    postgresql: z
      .object({
        listen: listenList,
        connect_address: hostPort,
        data_dir: z.string().min(1),
        bin_dir: z.string().min(1).optional(),
        pgpass: z.string().min(1).optional(),
        database: z.string().min(1).optional(),
        authentication: z
          .object({
            superuser: CredentialsSchema,
            replication: CredentialsSchema,
            rewind: nullable(CredentialsSchema),
          })
          .passthrough(),
        parameters: nullable(pgParameters),
        pg_hba: nullable(z.array(z.string())),
        use_pg_rewind: z.boolean().optional(),
        remove_data_directory_on_rewind_failure: z.boolean().optional(),
        remove_data_directory_on_diverged_timelines: z.boolean().optional(),
      })
      .passthrough(),
    tags: nullable(
      z
        .object({
          nofailover: boolish.optional(),
          failover_priority: z.number().int().optional(),
          noloadbalance: boolish.optional(),
          clonefrom: boolish.optional(),
          nosync: boolish.optional(),
        })
        .passthrough(),
    ),
  })
  .passthrough();

export type AgentConfigInput = z.infer<typeof AgentConfigSchema>;

function shapeOf(schema: z.ZodTypeAny): Record<string, z.ZodTypeAny> | null {
  let s: z.ZodTypeAny = schema;
  for (let i = 0; i < 8; i++) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodEffects) s = s.innerType();
    else if (s instanceof z.ZodDefault) s = s.removeDefault();
    else break;
  }
  return s instanceof z.ZodObject ? (s.shape as Record<string, z.ZodTypeAny>) : null;
}

/** Dotted paths of keys present in `value` that the schema does not name (records are open by design). */
export function unknownKeys(value: unknown, schema: z.ZodTypeAny = AgentConfigSchema, path = ''): string[] {
  const shape = shapeOf(schema);
  if (!shape || typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const out: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const childPath = path ? `${path}.${key}` : key;
    const childSchema = shape[key];
    if (!childSchema) out.push(childPath);
    else out.push(...unknownKeys(child, childSchema, childPath));
  }
  return out;
}
