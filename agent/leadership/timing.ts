/** Timing from `/config` (or bootstrap.dcs before the cluster exists). Seconds. */
export interface Timing {
  readonly ttl: number;
  readonly loopWait: number;
  readonly retryTimeout: number;
}

/** Patroni's defaults (`Config.__DEFAULT_CONFIG`). */
export const DEFAULT_TIMING: Timing = { ttl: 30, loopWait: 10, retryTimeout: 10 };

/** Longest delay Node's timers accept (2^31 − 1 ms); a larger one fires after 1 ms. */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** The result of checking one timing object: the timing to use, and why the candidate was refused. */
export interface TimingCheck {
  readonly timing: Timing;
  /** null when the candidate was accepted. */
  readonly problem: string | null;
  /** Accepted, but outside Patroni's recommendation (ttl under 20 s). */
  readonly warning?: string;
}

function whole(raw: Readonly<Record<string, unknown>>, key: string, fallback: number): number | string {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v))
    return `${key}: expected a whole number of seconds, found ${JSON.stringify(v)}`;
  if (v > MAX_TIMER_SECONDS) return `${key}: ${v} s is beyond Node's timer range (${MAX_TIMER_SECONDS} s)`;
  return v;
}

/** Patroni's floor for ttl. Not enforced (the lab and benches run ttl 10, safe by the sum rule): warned. */
export const PATRONI_MIN_TTL = 20;

/**
 * Checks `ttl`, `loop_wait` and `retry_timeout` of a dynamic configuration object with Patroni's rules
 * (`Config._validate_and_adjust_timeouts`): loop_wait ≥ 1, retry_timeout ≥ 3 and
 * loop_wait + 2 × retry_timeout ≤ ttl, plus whole seconds within Node's timer range. Patroni adjusts a
 * violating value; the agent refuses the whole object and keeps `lastGood`, so one bad write to `/config`
 * can neither make a healthy leader fence itself (ttl shorter than loop_wait) nor spin the loop.
 * Missing keys take Patroni's defaults. A ttl under Patroni's 20 s is accepted with a `warning`.
 */
export function checkTiming(raw: Readonly<Record<string, unknown>>, lastGood: Timing): TimingCheck {
  const ttl = whole(raw, 'ttl', DEFAULT_TIMING.ttl);
  const loopWait = whole(raw, 'loop_wait', DEFAULT_TIMING.loopWait);
  const retryTimeout = whole(raw, 'retry_timeout', DEFAULT_TIMING.retryTimeout);
  const refuse = (problem: string): TimingCheck => ({ timing: lastGood, problem });
  for (const v of [ttl, loopWait, retryTimeout]) if (typeof v === 'string') return refuse(v);
  const t = { ttl, loopWait, retryTimeout } as Timing;
  if (t.loopWait < 1) return refuse(`loop_wait: expected at least 1 s, found ${t.loopWait}`);
  if (t.retryTimeout < 3) return refuse(`retry_timeout: expected at least 3 s, found ${t.retryTimeout}`);
  if (t.loopWait + 2 * t.retryTimeout > t.ttl)
    return refuse(
      `expected loop_wait + 2 × retry_timeout ≤ ttl, found ${t.loopWait} + 2 × ${t.retryTimeout} > ${t.ttl}`,
    );
  if (t.ttl < PATRONI_MIN_TTL)
    return { timing: t, problem: null, warning: `ttl: ${t.ttl} s is under Patroni's minimum of 20 s` };
  return { timing: t, problem: null };
}

/** Margin before the lease's certain expiry by which a primary stops accepting writes (Patroni's safety_margin). */
export function safetyMarginMs(ttlSeconds: number): number {
  return Math.max(1000, Math.min(5000, (ttlSeconds * 1000) / 4));
}

/** The timing in force: each candidate is checked, a refused one is logged once and the last good kept. */
export class TimingKeeper {
  #current: Timing;
  #lastReport = '';

  constructor(
    private readonly log: { error(obj: object, msg: string): void; warn(msg: string): void },
    bootstrapDcs: Readonly<Record<string, unknown>>,
  ) {
    this.#current = DEFAULT_TIMING;
    this.offer(bootstrapDcs, 'bootstrap.dcs');
  }

  get current(): Timing {
    return this.#current;
  }

  /** Checks `raw` (a `/config` value or bootstrap.dcs, named by `source`) and adopts it when it passes. */
  offer(raw: Readonly<Record<string, unknown>>, source: string): Timing {
    const r = checkTiming(raw, this.#current);
    const report = JSON.stringify([source, r.problem, r.warning]);
    if (report !== this.#lastReport) {
      this.#lastReport = report;
      const t = r.timing;
      if (r.problem)
        this.log.error(
          { timing: t },
          `${source}: ${r.problem}; refused, keeping ttl ${t.ttl}, loop_wait ${t.loopWait}, retry_timeout ${t.retryTimeout}`,
        );
      else if (r.warning) this.log.warn(`${source}: ${r.warning}`);
    }
    this.#current = r.timing;
    return r.timing;
  }
}
