import { monotonicMs } from '../../src/dcs/lease.js';
import type { Logger } from '../../src/log.js';
import { safetyMarginMs } from './timing.js';

/** The lease as leadership needs it: id, ttl and the monotonic moment until which it is certainly alive. */
export interface LeaseLike {
  readonly id: string | null;
  readonly ttlSeconds: number;
  readonly aliveUntil: number;
}

/** What leadership needs of PostgreSQL: the verified postmaster pid and the immediate stop. */
export interface PostmasterLike {
  /** pid of a live postmaster of this data directory (pid file checked against the process), else null. */
  livePostmasterPid(): number | null;
  fence(): boolean;
}

export interface WatchdogLike {
  arm(deadlineMs: number, pid: number): void;
  disarm(): void;
}

export interface LeadershipDeps {
  readonly lease: () => LeaseLike;
  readonly postgres: PostmasterLike;
  readonly watchdog: WatchdogLike;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * Owns "may this node act as primary": the leader-lock flag, the lease deadline, the in-process fence timer
 * and the watchdog. Both guards are armed from lock ownership and postmaster liveness only — never from a
 * status query — so a query that fails or times out cannot disarm them, and they are armed from the moment
 * the lock is taken (before promotion), not at the end of the next cycle.
 */
export class Leadership {
  #hasLock = false;
  #isPaused = false;
  #failsafeActive = false;
  #failsafeConfirmedAt = 0;
  #oldLeaseAliveUntil: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  readonly #now: () => number;

  constructor(private readonly d: LeadershipDeps) {
    this.#now = d.now ?? monotonicMs;
  }

  get hasLock(): boolean {
    return this.#hasLock;
  }

  get isFailsafeActive(): boolean {
    return this.#failsafeActive;
  }

  /** This node took (true) or lost (false) the leader key: guards follow at once. */
  setLock(isLeader: boolean): void {
    this.#hasLock = isLeader;
    this.#oldLeaseAliveUntil = null;
    this.rearm();
  }

  /** The cycle saw the leader key on this node's current lease (keeps a pending old-lease bound). */
  confirmLock(): void {
    if (this.#hasLock) return;
    this.#hasLock = true;
    this.rearm();
  }

  /** A new lease replaces `previousAliveUntil`'s: until the key moves over, the old deadline still bounds. */
  leaseReplaced(previousAliveUntil: number): void {
    this.#oldLeaseAliveUntil = previousAliveUntil;
  }

  setPaused(isPaused: boolean): void {
    this.#isPaused = isPaused;
  }

  /** Failsafe: every member confirmed (extends the deadline by ttl from now) or not. */
  setFailsafe(isActive: boolean, confirmedNow: boolean): void {
    this.#failsafeActive = isActive;
    if (confirmedNow) this.#failsafeConfirmedAt = this.#now();
  }

  /** Monotonic ms until which this node may act as primary (lease, or failsafe confirmation + ttl). */
  aliveUntil(): number {
    const lease = this.d.lease();
    const failsafe = this.#failsafeActive ? this.#failsafeConfirmedAt + lease.ttlSeconds * 1000 : 0;
    const own =
      this.#oldLeaseAliveUntil === null
        ? lease.aliveUntil
        : Math.min(lease.aliveUntil, this.#oldLeaseAliveUntil);
    return Math.max(own, failsafe);
  }

  /** Monotonic ms by which a primary must stop accepting writes. */
  safeUntil(): number {
    return this.aliveUntil() - safetyMarginMs(this.d.lease().ttlSeconds);
  }

  /** Holds the leader key with a lease that is certainly alive now (minus the safety margin). */
  isLeaderNow(): boolean {
    return this.#hasLock && this.d.lease().id !== null && this.#now() < this.safeUntil();
  }

  /**
   * Re-arms both guards for the current deadline (after every renewal and cycle, and on lock changes).
   * Armed while this node holds the lock, has a lease, is not paused and its postmaster is alive.
   */
  rearm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#stopped) return;
    const lease = this.d.lease();
    const pid = this.d.postgres.livePostmasterPid();
    if (!this.#hasLock || lease.id === null || pid === null || this.#isPaused) {
      if (!this.#failsafeActive || !this.#hasLock) this.d.watchdog.disarm();
      return;
    }
    const margin = safetyMarginMs(lease.ttlSeconds);
    const aliveUntil = this.aliveUntil();
    this.d.watchdog.arm(aliveUntil - margin / 2, pid);
    this.#timer = setTimeout(
      () => {
        if (this.#now() < this.safeUntil()) return this.rearm();
        this.fenceNow('the leader lease was not renewed in time');
      },
      Math.max(0, Math.min(2 ** 31 - 1, aliveUntil - margin - this.#now())),
    );
  }

  /** Stops accepting writes now: drops the lock and sends the postmaster SIGQUIT. */
  fenceNow(reason: string): void {
    this.d.log.error(`demoting: ${reason}; stopping PostgreSQL`);
    this.#hasLock = false;
    this.d.watchdog.disarm();
    this.d.postgres.fence();
  }

  /** The watchdog died for good: a primary without a watchdog is fenced (nothing covers a frozen agent). */
  watchdogDead(reason: string): void {
    if (this.#timer === null) {
      this.d.log.error(`${reason}; not leading, nothing to fence`);
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.fenceNow(`${reason}; no watchdog covers this primary`);
  }

  /** Graceful shutdown: no more timers (the caller stops PostgreSQL and the watchdog). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#hasLock = false;
  }
}
