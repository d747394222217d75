import { z } from 'zod';
import { CONTROL_CHARS_REASON, hasControlChars } from './validate.js';

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

/** A DCS string: rejected (never cleaned) when it has a control character, before any parser sees it. */
const text = () => z.string().refine((v) => !hasControlChars(v), CONTROL_CHARS_REASON);

/** Any JSON value whose strings (keys included, at any depth) have no control character. */
function isFreeOfControlChars(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return !hasControlChars(value);
  if (depth > 16 || value === null || typeof value !== 'object') return depth <= 16;
  if (Array.isArray(value)) return value.every((v) => isFreeOfControlChars(v, depth + 1));
  return Object.entries(value).every(([k, v]) => !hasControlChars(k) && isFreeOfControlChars(v, depth + 1));
}

export const MemberValueSchema = z
  .object({
    conn_url: text(),
    api_url: text().optional(),
    state: text().pipe(z.string().max(64)),
    role: z.enum(MEMBER_ROLES),
    version: text().pipe(z.string().max(32)).optional(),
    xlog_location: lsn.optional(),
    receive_lsn: lsn.optional(),
    replay_lsn: lsn.optional(),
    replication_state: text().pipe(z.string().max(64)).optional(),
    timeline: z.number().int().nonnegative().optional(),
    tags: z.record(z.unknown()).refine(isFreeOfControlChars, `tags ${CONTROL_CHARS_REASON}`).optional(),
    pause: z.boolean().optional(),
    pending_restart: z.boolean().optional(),
    checkpoint_after_promote: z.boolean().optional(),
  })
  .passthrough();
export type MemberValue = z.infer<typeof MemberValueSchema>;

const seconds = z.number().int().positive();

/** The timing keys of the dynamic configuration, also read from `bootstrap.dcs` of patroni.yml (agent). */
export const DynamicTimingFields = {
  ttl: seconds.optional(),
  loop_wait: seconds.optional(),
  retry_timeout: seconds.optional(),
  maximum_lag_on_failover: z.number().int().nonnegative().optional(),
};

/** Dynamic configuration (`/config`). Patroni treats an unparsable value as `{}`. */
export const DynamicConfigSchema = z
  .object({
    ...DynamicTimingFields,
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
    leader: text().optional(),
    member: text().optional(),
    candidate: text().optional(),
    scheduled_at: text().optional(),
  })
  .passthrough();

export const SyncSchema = z
  .object({
    leader: text().nullable().optional(),
    sync_standby: text().nullable().optional(),
    quorum: z.number().int().nonnegative().optional(),
  })
  .passthrough();

export const FailsafeSchema = z.record(text()).refine(isFreeOfControlChars, CONTROL_CHARS_REASON);
