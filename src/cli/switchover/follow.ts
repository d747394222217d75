import { etcdConnection, type RouterConfig } from '../../config/router.js';
import { openSource, type OpenedSource } from '../../dcs/source.js';
import { silentLogger } from '../../log.js';
import { createMetrics } from '../../router/metrics.js';
import { probeSettingsOf } from '../../router/leader-health/probe.js';
import { Router } from '../../router/router.js';
import type { RouteSnapshot, Target } from '../../targets/types.js';

/**
 * The router's own loop without anything to drive: the DCS source (read, then watch) feeds a `Router`,
 * which builds each cluster's state, computes its view and probes a new leader until it is writable
 * (`routing.writable_probe`), exactly as `switchyard route` does. Its only target records the latest
 * snapshot and wakes whoever waits for the next one. No etcd polling, no copy of the view logic.
 */
export class ViewFollower {
  private readonly router: Router;
  private opened: OpenedSource | null = null;
  private latest: RouteSnapshot | null = null;
  private wakers: Array<() => void> = [];

  constructor(
    private readonly config: RouterConfig,
    private readonly scopes: readonly string[],
  ) {
    const tap: Target = {
      kind: 'switchover',
      name: 'switchover',
      start: async () => undefined,
      apply: async (snapshot) => {
        this.latest = snapshot;
        this.wake();
        return { generation: snapshot.generation, summary: '', didChange: false };
      },
      close: async () => undefined,
    };
    this.router = new Router([tap], {
      log: silentLogger(),
      metrics: createMetrics(),
      maxReplicaLagBytes: config.routing.maxReplicaLagBytes,
      probe: probeSettingsOf(config),
      onDcsLoss: 'keep',
    });
  }

  async open(): Promise<void> {
    this.opened = await openSource(
      this.config.dcs.type,
      etcdConnection(this.config),
      {
        namespace: this.config.namespace,
        clusters: this.scopes,
        checkIntervalMs: this.config.dcs.check_interval_ms,
        log: silentLogger(),
      },
      this.router,
    );
    this.opened.source.start();
  }

  /** The latest snapshot the router published (null before the first etcd read). */
  snapshot(): RouteSnapshot | null {
    return this.latest;
  }

  /** Wakes a pending `changed()` (another event the caller waits for, e.g. Patroni's answer). */
  wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }

  /** Resolves when a snapshot newer than `generation` is published, `wake()` is called, or after `ms`. */
  changed(generation: number, ms: number): Promise<void> {
    if ((this.latest?.generation ?? 0) > generation) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakers.push(done);
    });
  }

  async close(): Promise<void> {
    await this.router.close();
    await this.opened?.source.stop();
    this.opened?.close();
  }
}
