import type { Etcd3 } from 'etcd3';
import { AgentLease, monotonicMs } from '../../src/dcs/lease.js';
import { describeError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';

export interface LeaseKeeperDeps {
  readonly client: Etcd3;
  readonly log: Logger;
  readonly ttlSeconds: number;
  readonly requestTimeoutMs: () => number;
  /** The lease was gone on the server (keys on it deleted) or replaced: the caller forgets what was on it. */
  readonly onLeaseLost: () => void;
  /** A new lease replaces one certainly alive until `previousAliveUntil` (monotonic ms); keys stay on it. */
  readonly onLeaseReplaced: (previousAliveUntil: number) => void;
  /** Renewed (or granted): the deadline moved. */
  readonly onRenewed: () => void;
}

/** The agent's one etcd lease: renewed once per cycle, re-granted when lost, replaced when ttl changes. */
export class LeaseKeeper {
  lease: AgentLease;
  #lastRenewAt = 0;

  constructor(private readonly d: LeaseKeeperDeps) {
    this.lease = this.#newLease(d.ttlSeconds);
  }

  #newLease(ttlSeconds: number): AgentLease {
    return new AgentLease(this.d.client, { ttlSeconds, requestTimeoutMs: this.d.requestTimeoutMs() });
  }

  /** Keepalive (or grant); false when etcd did not answer in time. */
  async renew(): Promise<boolean> {
    // A cycle woken by an event right after a renewal skips the round trip: it is on the switchover path.
    if (this.lease.id !== null && monotonicMs() - this.#lastRenewAt < 1000) return true;
    try {
      this.#lastRenewAt = monotonicMs();
      if (this.lease.id === null || !(await this.lease.keepalive())) {
        this.d.onLeaseLost();
        await this.lease.grant();
      }
      this.d.onRenewed();
      return true;
    } catch (err) {
      this.#lastRenewAt = 0;
      this.d.log.warn({ err: describeError(err) }, 'lease renewal failed');
      return false;
    }
  }

  /**
   * Like Patroni: a new ttl means a new lease. The old one is left to expire (revoking it would delete the
   * leader key at once); the leader key moves over by VALUE==name (take_over_own_key). Until then the old
   * lease's deadline still bounds this primary.
   */
  async useTtl(ttlSeconds: number): Promise<void> {
    if (ttlSeconds === this.lease.ttlSeconds) return;
    this.d.log.info({ from: this.lease.ttlSeconds, to: ttlSeconds }, 'ttl changed: granting a new lease');
    this.d.onLeaseReplaced(this.lease.aliveUntil);
    this.lease = this.#newLease(ttlSeconds);
    try {
      await this.lease.grant();
      this.#lastRenewAt = monotonicMs();
    } catch (err) {
      this.d.log.warn({ err: describeError(err) }, 'granting the new lease failed');
    }
  }
}
