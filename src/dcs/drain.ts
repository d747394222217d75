import { randomUUID } from 'node:crypto';
import type { Etcd3, Lease } from 'etcd3';
import { z } from 'zod';
import { scopePrefix } from '../cluster/keys.js';
import { connectEtcd, translateEtcdError, type EtcdConnection } from './connect.js';

/**
 * The stop handshake between `switchyard switchover` and the old primary's `before_stop` hook
 * (`switchyard before-stop`, run by Patroni ≥ 3.0.3 right before `pg_ctl stop`, after its CHECKPOINT).
 * With it the command pauses PgBouncer at the stop itself instead of before `POST /switchover`, so
 * clients are not held through Patroni's own pre-stop work (≈ 200 ms here) while the old primary still
 * accepts writes:
 *
 * 1. the command writes `<namespace>/<scope>/switchyard-drain` = `{state: armed, leader, id, expires_at}`
 *    on a lease of its own, then asks Patroni for the switchover;
 * 2. the hook on the leader finds the key armed for itself: `state: stopping` (with the `candidate` that
 *    takes over, when the hook knows it), and waits;
 * 3. the command sees `stopping`, PAUSEs (running transactions finish first), writes `state: paused`, and
 *    points the paused databases at the candidate while the old primary stops;
 * 4. the hook returns and Patroni stops PostgreSQL: nothing is running, nothing fails.
 *
 * Every wait is bounded: the hook waits at most `--wait-ms` and never past `expires_at`; a command that
 * dies leaves a key that expires with its lease; without an armed key the hook returns after one read.
 * Patroni ignores keys it does not know under the scope, and so does the router (`splitKey`).
 * The command uses the handshake only when the leader's member key carries the tag {@link DRAIN_TAG}
 * (`tags: {switchyard_before_stop: true}` next to `postgresql.before_stop` in patroni.yml).
 */
export const DRAIN_KEY = 'switchyard-drain';
export const DRAIN_TAG = 'switchyard_before_stop';

const DrainSchema = z
  .object({
    version: z.literal(1),
    id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/),
    leader: z.string().min(1).max(256),
    state: z.enum(['armed', 'stopping', 'paused']),
    expires_at: z.number().int().positive(),
    /** Written with `stopping` by a hook that knows who takes over (the agent does). */
    candidate: z.string().min(1).max(256).optional(),
  })
  .strict();

export type Drain = z.infer<typeof DrainSchema>;

export function drainKey(namespace: string, scope: string): string {
  return `${scopePrefix(namespace, scope)}${DRAIN_KEY}`;
}

/** The key's value, or null when absent or not a valid handshake (DCS values are untrusted). */
export function parseDrain(raw: string | null | undefined): Drain | null {
  if (raw === null || raw === undefined) return null;
  try {
    const parsed = DrainSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The hook waits only for a live handshake armed for this very member. */
export function isArmedFor(drain: Drain | null, member: string, now: number): drain is Drain {
  return drain !== null && drain.state === 'armed' && drain.leader === member && drain.expires_at > now;
}

/** Whether a member key's tags say its `before_stop` runs `switchyard before-stop` (validated: `true` only). */
export function hasDrainTag(tags: Readonly<Record<string, unknown>> | undefined): boolean {
  return tags?.[DRAIN_TAG] === true;
}

/**
 * Whether a member's Patroni (its member key's `version`, e.g. `4.0.7`) runs `postgresql.before_stop`,
 * i.e. is 3.0.3 or later; false when the version is missing or not a version.
 */
export function canRunBeforeStop(version: string | null | undefined): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version ?? '');
  if (!m) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return major > 3 || (major === 3 && (minor > 0 || patch >= 3));
}

interface Versioned {
  drain: Drain | null;
  modRevision: string | null;
}

async function read(client: Etcd3, key: string): Promise<Versioned> {
  const res = await client.get(key).exec();
  const kv = res.kvs[0];
  return kv
    ? { drain: parseDrain(kv.value.toString()), modRevision: kv.mod_revision }
    : { drain: null, modRevision: null };
}

/**
 * Resolves with the handshake's state once `until(state)` holds (null = the key is gone), or with the
 * last state seen after `timeoutMs`, which also bounds creating the watch (a stream has no deadline of
 * its own). Watch first, then read, so no change between the two is missed.
 */
export async function waitForDrain(
  client: Etcd3,
  key: string,
  until: (drain: Drain | null) => boolean,
  timeoutMs: number,
): Promise<{ drain: Drain | null; isMet: boolean }> {
  let last: Drain | null = null;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<{ drain: Drain | null; isMet: boolean }>((resolve) => {
    timer = setTimeout(() => resolve({ drain: last, isMet: false }), timeoutMs);
  });
  const creating = client.watch().key(key).create();
  try {
    return await Promise.race([
      expired,
      creating.then(
        (watcher) =>
          new Promise<{ drain: Drain | null; isMet: boolean }>((resolve, reject) => {
            const settle = (drain: Drain | null) => {
              last = drain;
              if (until(drain)) resolve({ drain, isMet: true });
            };
            watcher.on('put', (kv) => settle(parseDrain(kv.value.toString())));
            watcher.on('delete', () => settle(null));
            read(client, key).then(
              (v) => settle(v.drain),
              (err: unknown) => reject(translateEtcdError(err, `reading ${key}`)),
            );
          }),
      ),
    ]);
  } finally {
    clearTimeout(timer);
    // Not awaited: the hook's caller (Patroni's stop) must not wait for etcd to confirm the cancel.
    void creating.then((w) => w.cancel()).catch(() => undefined);
  }
}

/**
 * The hook's side: if the key is armed for `member`, say `stopping` (compare-and-swap on the revision
 * read, keeping the command's lease; with `candidate` when known) and wait until the command says
 * `paused`, the key is gone, or the bound. Returns what happened, for the hook's one line of output.
 */
export async function announceStop(
  client: Etcd3,
  key: string,
  member: string,
  waitMs: number,
  options: { candidate?: string | null; now?: () => number } = {},
): Promise<'not armed' | 'paused' | 'gone' | 'no answer'> {
  const now = options.now ?? Date.now;
  const current = await read(client, key);
  if (!isArmedFor(current.drain, member, now()) || current.modRevision === null) return 'not armed';
  const stopping: Drain = {
    ...current.drain,
    state: 'stopping',
    ...(options.candidate ? { candidate: options.candidate } : {}),
  };
  const swapped = await client
    .if(key, 'Mod', '==', current.modRevision)
    .then(client.put(key).value(JSON.stringify(stopping)).ignoreLease())
    .commit();
  if (!swapped.succeeded) return 'not armed';
  const bound = Math.max(0, Math.min(waitMs, current.drain.expires_at - now()));
  const outcome = await waitForDrain(
    client,
    key,
    (d) => d === null || d.id !== stopping.id || d.state === 'paused',
    bound,
  );
  if (!outcome.isMet) return 'no answer';
  return outcome.drain?.id === stopping.id ? 'paused' : 'gone';
}

/**
 * The command's side of the stop handshake (`src/dcs/drain.ts`): arm the key for the leader on a lease
 * of its own, learn when the leader's hook says `stopping`, answer `paused`, delete the key at the end.
 */
export class StopHandshake {
  private lease: Lease | null = null;
  private drain: Drain | null = null;
  private stoppingSeen: Promise<{ candidate: string | null } | null> | null = null;

  private constructor(
    private readonly client: Etcd3,
    private readonly key: string,
  ) {}

  static async open(conn: EtcdConnection, namespace: string, scope: string): Promise<StopHandshake> {
    return new StopHandshake(await connectEtcd(conn), drainKey(namespace, scope));
  }

  /** Arms the handshake for `leader` until `expiresAt` (the key's lease lasts a few seconds longer). */
  async arm(leader: string, expiresAt: number): Promise<void> {
    const ttl = Math.ceil((expiresAt - Date.now()) / 1000) + 5;
    this.drain = { version: 1, id: randomUUID(), leader, state: 'armed', expires_at: expiresAt };
    try {
      this.lease = this.client.lease(ttl, { autoKeepAlive: false });
      await this.lease.put(this.key).value(JSON.stringify(this.drain)).exec();
    } catch (err) {
      throw translateEtcdError(err, `arming ${this.key}`);
    }
  }

  /**
   * Resolves once the leader's hook said `stopping` for this handshake, with the candidate it named
   * (null: none); null when the key went away or was taken over, or `timeoutMs` passed. Started once;
   * later calls share the same wait.
   */
  stopping(timeoutMs: number): Promise<{ candidate: string | null } | null> {
    const id = this.drain?.id;
    this.stoppingSeen ??= waitForDrain(
      this.client,
      this.key,
      (d) => d === null || d.id !== id || d.state === 'stopping',
      timeoutMs,
    ).then(
      (o) => (o.isMet && o.drain && o.drain.id === id ? { candidate: o.drain.candidate ?? null } : null),
      () => null,
    );
    return this.stoppingSeen;
  }

  /** Tells the hook the databases are paused: it returns and Patroni stops PostgreSQL. */
  async paused(): Promise<void> {
    if (!this.drain) return;
    this.drain = { ...this.drain, state: 'paused' };
    try {
      await this.client.put(this.key).value(JSON.stringify(this.drain)).ignoreLease().exec();
    } catch (err) {
      throw translateEtcdError(err, `answering ${this.key}`);
    }
  }

  /** Deletes the key (when it is still ours) and the lease; never throws. */
  async close(): Promise<void> {
    await this.lease?.revoke().catch(() => undefined);
    this.client.close();
  }
}
