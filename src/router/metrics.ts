import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CLUSTER_KEYS } from '../cluster/index.js';
import type { Target } from '../targets/types.js';

/** `cluster` label of `switchyard_invalid_values_total` for scope names refused as unsafe (never the name). */
export const UNSAFE_SCOPE_LABEL = '(unsafe scope name)';

/** The router's Prometheus metrics (reference: docs/metrics.md). One registry per router. */
export function createMetrics() {
  const registry = new Registry();
  // The event-loop lag monitor is a timer: prom-client's default 10 ms wakes an idle router 100 times a
  // second; 100 ms keeps the lag histogram useful for a process whose work is milliseconds per event.
  collectDefaultMetrics({
    register: registry,
    prefix: 'switchyard_process_',
    eventLoopMonitoringPrecision: 100,
  });
  return {
    registry,
    leaderChanges: new Counter({
      name: 'switchyard_leader_changes_total',
      help: 'Leader-key holder changes seen, per cluster (including to and from no leader).',
      labelNames: ['cluster'] as const,
      registers: [registry],
    }),
    applyDuration: new Histogram({
      name: 'switchyard_apply_duration_seconds',
      help: 'Time one target took to apply a snapshot (successful applies).',
      labelNames: ['target'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    applyFailures: new Counter({
      name: 'switchyard_apply_failures_total',
      help: 'Failed applies per target (each is retried with backoff).',
      labelNames: ['target'] as const,
      registers: [registry],
    }),
    appliedGeneration: new Gauge({
      name: 'switchyard_target_applied_generation',
      help: 'Generation each target last applied; equal to switchyard_generation when converged.',
      labelNames: ['target'] as const,
      registers: [registry],
    }),
    generation: new Gauge({
      name: 'switchyard_generation',
      help: 'Latest routing generation.',
      registers: [registry],
    }),
    dcsErrors: new Counter({
      name: 'switchyard_dcs_errors_total',
      help: 'etcd failures (reads, watches, liveness checks).',
      registers: [registry],
    }),
    dcsConnected: new Gauge({
      name: 'switchyard_dcs_connected',
      help: '1 when etcd answers, else 0.',
      registers: [registry],
    }),
    dcsStaleness: new Gauge({
      name: 'switchyard_dcs_staleness_seconds',
      help: 'Seconds since the last successful etcd answer.',
      registers: [registry],
    }),
    invalidValues: new Counter({
      name: 'switchyard_invalid_values_total',
      help: 'DCS values that failed validation and were ignored, per cluster and key.',
      labelNames: ['cluster', 'key'] as const,
      registers: [registry],
    }),
    clusters: new Gauge({ name: 'switchyard_clusters', help: 'Clusters followed.', registers: [registry] }),
    writable: new Gauge({
      name: 'switchyard_cluster_writable',
      help: '1 when the cluster has a leader accepting writes that the router routes to.',
      labelNames: ['cluster'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Every `key` label `switchyard_invalid_values_total` can carry for a cluster (member keys count as `members`). */
const INVALID_VALUE_KEYS: readonly string[] = [...CLUSTER_KEYS, 'members', '(scope)'];

/** Removes every series labelled with `cluster` (a scope that has no keys anymore). */
export function removeClusterSeries(metrics: Metrics, cluster: string): void {
  metrics.leaderChanges.remove({ cluster });
  metrics.writable.remove({ cluster });
  for (const key of INVALID_VALUE_KEYS) metrics.invalidValues.remove({ cluster, key });
}

function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/**
 * Exports what targets report in `status()`: every number in `counters` as a Prometheus counter
 * `switchyard_<target>_<key>_total`, and a boolean `isHeld` as the gauge `switchyard_<target>_held`.
 * Values are read at scrape time.
 */
export function registerTargetMetrics(metrics: Metrics, targets: readonly Target[]): void {
  for (const target of targets) {
    const initial = target.status?.() ?? {};
    const counters = initial['counters'];
    if (counters && typeof counters === 'object') {
      for (const [key, value] of Object.entries(counters)) {
        if (typeof value !== 'number') continue;
        let reported = 0;
        new Counter({
          name: `switchyard_${target.name}_${snakeCase(key)}_total`,
          help: `${target.kind} target: ${snakeCase(key).replace(/_/g, ' ')} since the router started.`,
          registers: [metrics.registry],
          collect() {
            const now =
              (target.status?.()['counters'] as Record<string, number> | undefined)?.[key] ?? reported;
            if (now > reported) this.inc(now - reported);
            reported = Math.max(reported, now);
          },
        });
      }
    }
    if (typeof initial['isHeld'] === 'boolean') {
      new Gauge({
        name: `switchyard_${target.name}_held`,
        help: `${target.kind} target: 1 while this host holds the address.`,
        registers: [metrics.registry],
        collect() {
          this.set(target.status?.()['isHeld'] === true ? 1 : 0);
        },
      });
    }
  }
}
