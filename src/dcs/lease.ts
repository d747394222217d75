import type { Etcd3, ILeaseKeepAliveResponse } from 'etcd3';
import { DcsUnavailableError } from '../errors.js';
import { translateEtcdError } from './connect.js';

/** System-wide monotonic milliseconds (CLOCK_MONOTONIC): comparable across processes on one host. */
export const monotonicMs = (): number => Number(process.hrtime.bigint() / 1_000_000n);

export interface LeaseOptions {
  ttlSeconds: number;
  /** Deadline of one grant or keepalive round trip. */
  requestTimeoutMs: number;
  now?: () => number;
}

/**
 * One etcd lease per agent (Patroni's `create_lease`/`refresh_lease`): the member key and, while leading,
 * the leader key are attached to it. Renewed explicitly once per HA cycle, never in the background, so that
 * "the lease is alive" always means "the loop ran recently".
 *
 * Contract: `aliveUntil` is the send time of the last acknowledged keepalive (or grant) + ttl, on the
 * monotonic clock. etcd computes expiry from the moment it *received* the request, which is later, so the
 * lease cannot expire on the server before `aliveUntil` (a leader change in etcd only extends it).
 */
export class AgentLease {
  #id: string | null = null;
  #aliveUntil = 0;
  readonly #now: () => number;

  constructor(
    private readonly client: Etcd3,
    private readonly options: LeaseOptions,
  ) {
    this.#now = options.now ?? monotonicMs;
  }

  get id(): string | null {
    return this.#id;
  }

  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  /** Monotonic ms until which the lease is certainly alive on the server; 0 when there is none. */
  get aliveUntil(): number {
    return this.#id === null ? 0 : this.#aliveUntil;
  }

  /** Grants a fresh lease (the old one, if any, is forgotten and expires on its own). */
  async grant(): Promise<string> {
    const sentAt = this.#now();
    try {
      const res = await this.client.leaseClient.leaseGrant(
        { TTL: this.options.ttlSeconds, ID: 0 },
        { deadline: Date.now() + this.options.requestTimeoutMs },
      );
      this.#id = String(res.ID);
      this.#aliveUntil = sentAt + this.options.ttlSeconds * 1000;
      return this.#id;
    } catch (err) {
      throw translateEtcdError(err, 'granting the agent lease');
    }
  }

  /**
   * One keepalive round trip. Returns true when renewed; false when etcd says the lease is gone (then the
   * id is cleared and the caller grants a new one: keys on the old lease are already deleted). Throws
   * DcsUnavailableError when etcd does not answer in time.
   */
  async keepalive(): Promise<boolean> {
    const id = this.#id;
    if (id === null) return false;
    const sentAt = this.#now();
    let timer: NodeJS.Timeout | undefined;
    let stream: Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>> | undefined;
    try {
      const res = await Promise.race([
        (async () => {
          stream = await this.client.leaseClient.leaseKeepAlive();
          const s = stream;
          return await new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
            s.on('data', resolve);
            s.on('error', reject);
            s.write({ ID: id });
          });
        })(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new DcsUnavailableError(
                  `etcd did not answer the lease keepalive within ${this.options.requestTimeoutMs} ms`,
                ),
              ),
            this.options.requestTimeoutMs,
          );
        }),
      ]);
      if (Number(res.TTL) <= 0) {
        if (this.#id === id) this.#id = null;
        return false;
      }
      if (this.#id === id)
        this.#aliveUntil = Math.max(this.#aliveUntil, sentAt + this.options.ttlSeconds * 1000);
      return true;
    } catch (err) {
      throw translateEtcdError(err, 'renewing the agent lease');
    } finally {
      clearTimeout(timer);
      try {
        (stream as { end?: () => void; cancel?: () => void } | undefined)?.end?.();
        (stream as { cancel?: () => void } | undefined)?.cancel?.();
      } catch {
        // the stream may already be closed
      }
    }
  }

  /** Revokes the lease (graceful shutdown): its keys disappear at once. */
  async revoke(): Promise<void> {
    const id = this.#id;
    this.#id = null;
    if (id === null) return;
    try {
      await this.client.leaseClient.leaseRevoke(
        { ID: id },
        { deadline: Date.now() + this.options.requestTimeoutMs },
      );
    } catch (err) {
      throw translateEtcdError(err, 'revoking the agent lease');
    }
  }

  /** Forget the lease without revoking it (a frozen process must not trust it after waking). */
  forget(): void {
    this.#id = null;
  }
}
