/**
 * `count` client loops that each record what they saw into one list, bounded by `stop()` and by `maxMs`
 * after `start()`. Subclasses write one loop in `loop` (called with its index, 0 to count − 1) and keep
 * going while `isRunning(deadline)`.
 */
export abstract class ClientLoops<R> {
  protected readonly records: R[] = [];
  private isStopped = false;
  private running: Promise<void>[] = [];

  protected constructor(
    private readonly count: number,
    private readonly maxMs: number,
  ) {}

  start(): this {
    const deadline = Date.now() + this.maxMs;
    this.running = Array.from({ length: this.count }, (_, i) => this.loop(deadline, i));
    return this;
  }

  async stop(): Promise<R[]> {
    this.isStopped = true;
    await Promise.all(this.running);
    return this.records;
  }

  protected isRunning(deadline: number): boolean {
    return !this.isStopped && Date.now() < deadline;
  }

  protected abstract loop(deadline: number, index: number): Promise<void>;
}

/** Waits what is left of `intervalMs` since `started` (a loop's pace). */
export async function pace(started: number, intervalMs: number): Promise<void> {
  const wait = intervalMs - (Date.now() - started);
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
