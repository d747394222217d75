import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import type { ApplyResult, RouteSnapshot, Target } from '../targets/types.js';

export interface RunnerStatus {
  kind: string;
  appliedGeneration: number;
  lastApplyMs: number | null;
  lastAppliedAt: number | null;
  lastSummary: string | null;
  lastError: string | null;
  consecutiveFailures: number;
}

export interface RunnerHooks {
  onApplied(target: Target, result: ApplyResult, durationMs: number, snapshot: RouteSnapshot): void;
  onFailed(target: Target, error: unknown, durationMs: number): void;
}

/**
 * Applies snapshots to one target, one at a time. While an apply runs, newer snapshots replace each
 * other (only the latest is applied next), so a flapping leader never builds a queue. A failed apply
 * is retried with exponential backoff against the latest snapshot.
 */
export class TargetRunner {
  private latest: RouteSnapshot | null = null;
  private isRunning = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private isClosed = false;
  private readonly state: RunnerStatus;

  constructor(
    readonly target: Target,
    private readonly hooks: RunnerHooks,
    private readonly log: Logger,
    private readonly backoff = { initialMs: 200, maxMs: 10_000 },
  ) {
    this.state = {
      kind: target.kind,
      appliedGeneration: 0,
      lastApplyMs: null,
      lastAppliedAt: null,
      lastSummary: null,
      lastError: null,
      consecutiveFailures: 0,
    };
    if (target.reconcileIntervalMs) {
      this.reconcileTimer = setInterval(() => this.kick(), target.reconcileIntervalMs);
    }
  }

  status(): RunnerStatus {
    return { ...this.state };
  }

  submit(snapshot: RouteSnapshot): void {
    this.latest = snapshot;
    clearTimeout(this.retryTimer);
    this.kick();
  }

  private kick(): void {
    if (this.isRunning || this.isClosed || !this.latest) return;
    void this.run(this.latest);
  }

  private async run(snapshot: RouteSnapshot): Promise<void> {
    this.isRunning = true;
    const started = performance.now();
    try {
      const result = await this.target.apply(snapshot);
      const duration = performance.now() - started;
      Object.assign(this.state, {
        appliedGeneration: result.generation,
        lastApplyMs: duration,
        lastAppliedAt: Date.now(),
        lastSummary: result.summary,
        lastError: null,
        consecutiveFailures: 0,
      });
      this.hooks.onApplied(this.target, result, duration, snapshot);
    } catch (err) {
      const duration = performance.now() - started;
      this.state.lastError = describeError(err);
      this.state.lastApplyMs = duration;
      this.state.consecutiveFailures += 1;
      this.hooks.onFailed(this.target, err, duration);
      if (!this.isClosed) {
        const delay = Math.min(
          this.backoff.maxMs,
          this.backoff.initialMs * 2 ** (this.state.consecutiveFailures - 1),
        );
        this.log.debug({ target: this.target.name, delayMs: delay }, 'retrying apply');
        this.retryTimer = setTimeout(() => this.kick(), delay);
      }
    } finally {
      this.isRunning = false;
    }
    // A newer snapshot arrived while applying: apply it now instead of waiting for a retry.
    if (this.latest !== snapshot && !this.isClosed) {
      clearTimeout(this.retryTimer);
      this.kick();
    }
  }

  /**
   * Stops retries and waits for an apply in progress (bounded), then closes the target — or, for a
   * config reload that keeps this target, detaches it so the next instance adopts the live state.
   */
  async close(timeoutMs = 5000, isHandover = false): Promise<void> {
    this.isClosed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.reconcileTimer);
    const deadline = Date.now() + timeoutMs;
    while (this.isRunning && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (isHandover && this.target.detach) await this.target.detach();
    else await this.target.close();
  }
}
