import type { RawKey } from '../cluster/index.js';
import { describeError } from '../errors.js';
import type { SourceHealth, SourceListener, SourceOptions } from './source.js';

/** Key sets per scope, as a source holds them: scope → key (relative to the scope) → raw key. */
export type ScopeKeys = Map<string, Map<string, RawKey>>;

/**
 * What both etcd sources (`source.ts` for v3, `etcd2.ts` for v2) do alike, so they differ only in how
 * they read and watch: the key sets per scope and how they reach the listener, the health they report
 * (one `onHealth` per change of connection or error, and per resync), the resync backoff, and the
 * liveness check. No I/O of its own.
 */
export class FollowState {
  readonly scopes: ScopeKeys = new Map();
  health: SourceHealth = {
    isConnected: false,
    lastContactAt: null,
    lastError: null,
    revision: 0,
    resyncs: 0,
  };
  readonly isAll: boolean;
  /** Set by {@link stop}: no resync, watch or check starts after it. */
  isStopped = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;

  /** `resync` re-reads everything and watches again; `check` is the source's liveness check. */
  constructor(
    private readonly options: SourceOptions,
    private readonly listener: SourceListener,
    private readonly run: { resync: () => Promise<void>; check: () => Promise<void> },
  ) {
    this.isAll = options.clusters.includes('*');
  }

  /** Starts following: the first read now, the liveness check every `checkIntervalMs`. */
  start(): void {
    void this.run.resync();
    this.checkTimer = setInterval(() => void this.run.check(), this.options.checkIntervalMs);
  }

  /** Stops the check and any scheduled resync. */
  stop(): void {
    this.isStopped = true;
    clearInterval(this.checkTimer);
    clearTimeout(this.retryTimer);
  }

  current(): SourceHealth {
    return { ...this.health };
  }

  setHealth(patch: Partial<SourceHealth>): void {
    const before = this.health;
    this.health = { ...this.health, ...patch };
    if (
      before.isConnected !== this.health.isConnected ||
      before.lastError !== this.health.lastError ||
      patch.resyncs !== undefined
    ) {
      this.listener.onHealth(this.current());
    }
  }

  /** Whether a key of `scope` is followed (every scope with `*`). */
  follows(scope: string): boolean {
    return this.isAll || this.options.clusters.includes(scope);
  }

  /** A fresh read replaces the key sets of the scopes it found (before watching: events land on them). */
  adopt(fresh: ScopeKeys): void {
    for (const [scope, keys] of fresh) this.scopes.set(scope, keys);
  }

  /**
   * After a read: every scope the read found goes to the listener; a scope it did not find (or, with
   * `*`, found empty) is gone.
   */
  announceRead(fresh: ScopeKeys): void {
    for (const scope of [...this.scopes.keys()]) {
      const keys = this.scopes.get(scope) as Map<string, RawKey>;
      if (!fresh.has(scope) || (this.isAll && keys.size === 0)) {
        this.scopes.delete(scope);
        this.listener.onScopeGone(scope);
      } else {
        this.listener.onScope(scope, [...keys.values()]);
      }
    }
  }

  /** After watch events: each touched scope to the listener (gone when `*` and empty). */
  announceEvents(touched: Iterable<string>, revision: number): void {
    this.health.revision = Math.max(this.health.revision, revision);
    this.health.lastContactAt = Date.now();
    for (const scope of touched) {
      const keys = this.scopes.get(scope) as Map<string, RawKey>;
      if (keys.size === 0 && this.isAll) {
        this.scopes.delete(scope);
        this.listener.onScopeGone(scope);
      } else {
        this.listener.onScope(scope, [...keys.values()]);
      }
    }
  }

  /** A resync read everything: connected, backoff reset (after the scopes went to the listener). */
  resynced(patch: Partial<SourceHealth> = {}): void {
    this.attempt = 0;
    this.setHealth({
      isConnected: true,
      lastContactAt: Date.now(),
      lastError: null,
      ...patch,
      resyncs: this.health.resyncs + 1,
    });
  }

  /** Resyncs after the next backoff delay (doubling from `initialMs` to `maxMs`, ±20 % jitter). */
  scheduleResync(): void {
    if (this.isStopped) return;
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 100, maxMs: 5000 };
    const delay = Math.min(maxMs, initialMs * 2 ** this.attempt++) * (0.8 + Math.random() * 0.4);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.run.resync(), delay);
  }

  cancelResync(): void {
    clearTimeout(this.retryTimer);
  }

  /**
   * Liveness (a stable leader key produces no events to notice a dead etcd by): `read` is one cheap
   * request; after an outage, a good answer starts a resync; a failure (through `translate`) disconnects.
   */
  async checkLiveness(read: () => Promise<unknown>, translate: (err: unknown) => unknown): Promise<void> {
    try {
      await read();
      const wasDown = !this.health.isConnected;
      this.health.lastContactAt = Date.now();
      if (wasDown) void this.run.resync();
    } catch (err) {
      const error = translate(err);
      if (this.health.isConnected) this.options.log.warn({ err: describeError(error) }, 'etcd unreachable');
      this.setHealth({ isConnected: false, lastError: describeError(error) });
    }
  }
}
