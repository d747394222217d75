import { connect } from 'node:net';
import type { Endpoint } from './render.js';

export type ProbeResult = 'up' | 'refused' | 'timeout';

/** One TCP connect to the leader's PostgreSQL port. `refused` is definitive (nothing listens there). */
export function probeTcp(endpoint: Endpoint, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port });
    const done = (result: ProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.once('connect', () => done('up'));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' ? 'refused' : 'timeout'),
    );
  });
}

export interface LivenessSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive timeouts before the leader counts as lost (a refused connect counts at once). */
  readonly failures: number;
}

interface Watched {
  endpoint: Endpoint;
  failures: number;
  isLost: boolean;
}

/**
 * Watches the PostgreSQL port of each cluster's routed leader. The leader key outlives a dead primary by up
 * to the cluster's ttl; during that time PgBouncer would hand clients connection errors. A leader whose port
 * refuses connections (or times out `failures` times in a row) is reported lost, so its databases are paused
 * and clients wait for the new leader instead; it is reported back when it answers again.
 */
export class LeaderLiveness {
  private readonly watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | null = null;
  private isProbing = false;

  constructor(
    private readonly settings: LivenessSettings,
    /** Called when a cluster's leader is lost or back; the target re-applies. */
    private readonly onChange: (cluster: string) => void,
    private readonly probe: (endpoint: Endpoint, timeoutMs: number) => Promise<ProbeResult> = probeTcp,
  ) {}

  /** The leaders to watch now (cluster → writable leader); others are dropped. */
  watch(leaders: ReadonlyMap<string, Endpoint | null | undefined>): void {
    for (const [cluster, endpoint] of leaders) {
      const current = this.watched.get(cluster);
      if (!endpoint) {
        if (endpoint === null) this.watched.delete(cluster);
        continue;
      }
      if (current && current.endpoint.host === endpoint.host && current.endpoint.port === endpoint.port)
        continue;
      this.watched.set(cluster, { endpoint, failures: 0, isLost: false });
    }
    if (!this.timer && this.watched.size > 0) {
      this.timer = setInterval(() => void this.probeAll(), this.settings.intervalMs);
      this.timer.unref();
    }
  }

  /** True when the cluster's leader at `endpoint` is currently considered dead. */
  isLost(cluster: string, endpoint: Endpoint): boolean {
    const w = this.watched.get(cluster);
    return (
      w !== undefined && w.isLost && w.endpoint.host === endpoint.host && w.endpoint.port === endpoint.port
    );
  }

  /** One round of probes (also called by the timer); bounded by the probe timeout. */
  async probeAll(): Promise<void> {
    if (this.isProbing) return;
    this.isProbing = true;
    try {
      await Promise.all(
        [...this.watched].map(async ([cluster, w]) => {
          const result = await this.probe(w.endpoint, this.settings.timeoutMs);
          if (this.watched.get(cluster) !== w) return;
          w.failures = result === 'up' ? 0 : w.failures + 1;
          const isLost = result === 'refused' || w.failures >= this.settings.failures;
          if (isLost !== w.isLost) {
            w.isLost = isLost;
            this.onChange(cluster);
          }
        }),
      );
    } finally {
      this.isProbing = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.watched.clear();
  }
}
