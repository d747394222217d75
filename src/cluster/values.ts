import { z } from 'zod';

/**
 * Schemas for the JSON values Patroni writes (reference: patroni.md §1.3). Unknown fields pass through
 * (newer Patroni versions add fields); wrong types fail. Both 3.x (`master`) and 4.x (`primary`) roles.
 */
export const MEMBER_ROLES = [
  'primary',
  'master',
  'replica',
  'standby_leader',
  'demoted',
  'promoted',
  'uninitialized',
] as const;

const lsn = z.number().int().nonnegative();

export const MemberValueSchema = z
  .object({
    conn_url: z.string(),
    api_url: z.string().optional(),
    state: z.string().max(64),
    role: z.enum(MEMBER_ROLES),
    version: z.string().max(32).optional(),
    xlog_location: lsn.optional(),
    receive_lsn: lsn.optional(),
    replay_lsn: lsn.optional(),
    replication_state: z.string().max(64).optional(),
    timeline: z.number().int().nonnegative().optional(),
    tags: z.record(z.unknown()).optional(),
    pause: z.boolean().optional(),
    pending_restart: z.boolean().optional(),
    checkpoint_after_promote: z.boolean().optional(),
  })
  .passthrough();
export type MemberValue = z.infer<typeof MemberValueSchema>;

const seconds = z.number().int().positive();

/** Dynamic configuration (`/config`). Patroni treats an unparsable value as `{}`. */
export const DynamicConfigSchema = z
  .object({
    ttl: seconds.optional(),
    loop_wait: seconds.optional(),
    retry_timeout: seconds.optional(),
    maximum_lag_on_failover: z.number().int().nonnegative().optional(),
    failsafe_mode: z.boolean().optional(),
    synchronous_mode: z
      .union([z.boolean(), z.literal('quorum'), z.literal('on'), z.literal('off')])
      .optional(),
    synchronous_mode_strict: z.boolean().optional(),
    synchronous_node_count: z.number().int().positive().optional(),
    pause: z.boolean().nullable().optional(),
    check_timeline: z.boolean().optional(),
    postgresql: z.record(z.unknown()).optional(),
  })
  .passthrough();
export type DynamicConfigValue = z.infer<typeof DynamicConfigSchema>;

/** `/status`: an object, or a bare int from legacy writers. */
export const StatusSchema = z.union([
  z
    .object({
      optime: lsn.optional(),
      slots: z.record(z.number()).nullable().optional(),
      retain_slots: z.array(z.string()).optional(),
    })
    .passthrough(),
  lsn,
]);

export const HistoryLineSchema = z
  .array(z.union([z.number(), z.string(), z.null()]))
  .min(3)
  .max(5)
  .refine((line) => typeof line[0] === 'number' && typeof line[1] === 'number', {
    message: 'timeline and LSN must be numbers',
  });
export const HistorySchema = z.array(HistoryLineSchema);

export const FailoverSchema = z
  .object({
    leader: z.string().optional(),
    member: z.string().optional(),
    candidate: z.string().optional(),
    scheduled_at: z.string().optional(),
  })
  .passthrough();

export const SyncSchema = z
  .object({
    leader: z.string().nullable().optional(),
    sync_standby: z.string().nullable().optional(),
    quorum: z.number().int().nonnegative().optional(),
  })
  .passthrough();

export const FailsafeSchema = z.record(z.string());
