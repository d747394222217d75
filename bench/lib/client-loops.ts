/**
 * `count` client loops that each record what they saw into one list, bounded by `stop()` and by `maxMs`
 * after `start()`. Subclasses write one round in `loop` and keep going while `isRunning(deadline)`.
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
    this.running = Array.from({ length: this.count }, () => this.loop(deadline));
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

  protected abstract loop(deadline: number): Promise<void>;
}
