import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CLUSTER_KEYS } from '../cluster/index.js';
import { packageVersion } from '../paths.js';
import { configReloads } from './config-watch.js';
import { snakeCase } from './snake-case.js';
import type { Target } from '../targets/types.js';

/** `cluster` label of `switchyard_invalid_values_total` for scope names refused as unsafe (never the name). */
export const UNSAFE_SCOPE_LABEL = '(unsafe scope name)';

/** prom-client's default collectors get `switchyard_` once: `switchyard_process_cpu_user_seconds_total`. */
export const DEFAULT_METRICS_PREFIX = 'switchyard_';

/** The router's Prometheus metrics (reference: docs/metrics.md, generated from this registry). */
export function createMetrics(version: string = packageVersion()) {
  const registry = new Registry();
  // The event-loop lag monitor is a timer: prom-client's default 10 ms wakes an idle router 100 times a
  // second; 100 ms keeps the lag histogram useful for a process whose work is milliseconds per event.
  collectDefaultMetrics({
    register: registry,
    prefix: DEFAULT_METRICS_PREFIX,
    eventLoopMonitoringPrecision: 100,
  });
  const buildInfo = new Gauge({
    name: 'switchyard_build_info',
    help: 'Always 1; the labels say which Switchyard and Node.js run (join on it to see versions).',
    labelNames: ['version', 'nodejs'] as const,
    registers: [registry],
  });
  buildInfo.set({ version, nodejs: process.versions.node }, 1);
  new Counter({
    name: 'switchyard_config_reloads_total',
    help: 'Config re-reads since the process started (file change or SIGHUP): result applied, or invalid (the running config kept).',
    labelNames: ['result'] as const,
    registers: [registry],
    // The registry is rebuilt with each applied config; the counts live as long as the process.
    collect() {
      this.reset();
      for (const result of ['applied', 'invalid'] as const) this.inc({ result }, configReloads[result]);
    },
  });
  return {
    registry,
    leaderChanges: new Counter({
      name: 'switchyard_leader_changes_total',
      help:
        'Leader-key holder changes seen, per cluster, including to and from no leader: a switchover whose key is ' +
        'deleted before the new leader takes it counts 2 when the router sees both steps (old → none → new).',
      labelNames: ['cluster'] as const,
      registers: [registry],
    }),
    applyDuration: new Histogram({
      name: 'switchyard_apply_duration_seconds',
      help:
        "Time one target took to apply a snapshot (successful applies only). The PgBouncer target's apply " +
        'includes the wait for a writable leader while paused.',
      labelNames: ['target'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    applyFailures: new Counter({
      name: 'switchyard_apply_failures_total',
      help:
        'Failed applies per target. Each failure is retried with exponential backoff (200 ms doubling up to ' +
        '10 s) against the latest snapshot.',
      labelNames: ['target'] as const,
      registers: [registry],
    }),
    appliedGeneration: new Gauge({
      name: 'switchyard_target_applied_generation',
      help: 'Routing generation each target last applied; equal to switchyard_generation once it converged.',
      labelNames: ['target'] as const,
      registers: [registry],
    }),
    generation: new Gauge({
      name: 'switchyard_generation',
      help:
        "Latest routing generation. It grows by one on every change of any cluster's view (leader, " +
        'writability, eligible replicas, members), on fail-closed and on etcd coming back after fail-closed.',
      registers: [registry],
    }),
    dcsErrors: new Counter({
      name: 'switchyard_dcs_errors_total',
      help: 'etcd failures: reads, watches, liveness checks.',
      registers: [registry],
    }),
    dcsConnected: new Gauge({
      name: 'switchyard_dcs_connected',
      help: '1 while etcd answers, else 0.',
      registers: [registry],
    }),
    dcsLastSuccess: new Gauge({
      name: 'switchyard_dcs_last_success_timestamp_seconds',
      help:
        'Unix time of the last successful etcd answer (the liveness read runs every dcs.check_interval_ms); ' +
        'staleness is time() minus this. Absent before the first answer.',
      registers: [registry],
    }),
    dcsStaleness: new Gauge({
      name: 'switchyard_dcs_staleness_seconds',
      help: 'Deprecated (kept for existing alerts): seconds since the last successful etcd answer; use time() - switchyard_dcs_last_success_timestamp_seconds.',
      registers: [registry],
    }),
    invalidValues: new Counter({
      name: 'switchyard_invalid_values_total',
      help:
        'etcd values that failed validation and were ignored (bad JSON, control characters, hosts with spaces, ' +
        'ports out of range, ...), counted once per distinct problem when it appears. key is the key under the ' +
        `scope (leader, config, ...; every member key counts as members); unsafe scope names count as cluster="${UNSAFE_SCOPE_LABEL}", key="scope".`,
      labelNames: ['cluster', 'key'] as const,
      registers: [registry],
    }),
    clusters: new Gauge({
      name: 'switchyard_clusters',
      help: 'Clusters followed (with clusters: ["*"], every scope seen under the namespace).',
      registers: [registry],
    }),
    leaderLost: new Gauge({
      name: 'switchyard_cluster_leader_lost',
      help:
        "1 while the router's leader health sees the leader's PostgreSQL dead (held session ended, connect " +
        'refused or timed out) and the leader key still names it; 0 otherwise (routing.leader_health).',
      labelNames: ['cluster'] as const,
      registers: [registry],
    }),
    writable: new Gauge({
      name: 'switchyard_cluster_writable',
      help:
        '1 while the cluster has a leader that accepts writes and the router routes writes to it; 0 with no ' +
        'leader key or a leader not yet (or never) writable.',
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
  metrics.leaderLost.remove({ cluster });
  for (const key of INVALID_VALUE_KEYS) metrics.invalidValues.remove({ cluster, key });
}

export function targetCounterHelp(kind: string, key: string): string {
  return `${kind} target: ${snakeCase(key).replace(/_/g, ' ')} since the router started.`;
}

export function targetHeldHelp(kind: string): string {
  return `${kind} target: 1 while this host holds the address.`;
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
          help: targetCounterHelp(target.kind, key),
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
        help: targetHeldHelp(target.kind),
        registers: [metrics.registry],
        collect() {
          this.set(target.status?.()['isHeld'] === true ? 1 : 0);
        },
      });
    }
  }
}
