import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The router's Prometheus metrics (reference: docs/metrics.md). One registry per router. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_process_' });
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
