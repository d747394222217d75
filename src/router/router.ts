import type { Logger } from 'pino';
import {
  buildClusterState,
  isSafeScope,
  unsafeScopeReason,
  type ClusterState,
  type RawKey,
} from '../cluster/index.js';
import type { SourceHealth, SourceListener } from '../dcs/source.js';
import { describeError } from '../errors.js';
import { computeView, isSameView, leaderHealthState, type RouteView } from '../route/view.js';
import type { ApplyResult, DcsHealth, RouteSnapshot, Target } from '../targets/types.js';
import { UNSAFE_SCOPE_LABEL, removeClusterSeries, type Metrics } from './metrics.js';
import { LeaderHealth, type LeaderHealthIo, type LeaderHealthSettings } from './leader-health/index.js';
import type { ProbeSettings } from './leader-health/probe.js';
import { TargetRunner } from './runner.js';
import { buildStatus, type RouterStatus } from './status.js';
import { LeaderTimeline } from './timeline.js';

export interface RouterOptions {
  log: Logger;
  metrics: Metrics;
  maxReplicaLagBytes: number | null;
  probe: ProbeSettings;
  /** The held session and TCP probe on each writable leader (`routing.leader_health`); absent = off. */
  liveness?: LeaderHealthSettings['liveness'];
  /** Replaces the leader health's I/O (unit tests). */
  healthIo?: LeaderHealthIo;
  /** `fail_closed`: once etcd has been unreachable for a cluster's ttl, route no writes for it. */
  onDcsLoss: 'keep' | 'fail_closed';
  now?: () => number;
}

interface ClusterEntry {
  state: ClusterState;
  view: RouteView;
  /** Leader name at the previous view, for "old → new" logs. */
  leaderSince: number | null;
  invalidKeys: Set<string>;
}

/**
 * The loop that wires source → view → targets. Receives key sets from the source, turns each into a
 * ClusterState and RouteView, numbers changed views, and hands the latest snapshot to every target's
 * runner. Member churn (`xlog_location` moving) produces an identical view and therefore no work.
 */
export class Router implements SourceListener {
  private readonly clusters = new Map<string, ClusterEntry>();
  private readonly runners: TargetRunner[] = [];
  private generation = 0;
  private dcs: SourceHealth = {
    isConnected: false,
    lastContactAt: null,
    lastError: null,
    revision: 0,
    resyncs: 0,
  };
  private hasSynced = false;
  private readonly health: LeaderHealth;
  private failClosedTimer: NodeJS.Timeout | undefined;
  private isFailedClosed = false;
  private lastSentence = 'starting: waiting for the first etcd read';
  private readonly timeline = new LeaderTimeline();

  constructor(
    targets: readonly Target[],
    private readonly options: RouterOptions,
  ) {
    this.health = new LeaderHealth(
      { probe: options.probe, liveness: options.liveness ?? null },
      {
        onChange: (scope) => this.onLeaderHealth(scope),
        onNeverWritable: (scope, leader, reason) =>
          this.sentence(`leader ${leader} of ${scope} never became writable: ${reason}; no writes routed`),
      },
      options.log,
      options.healthIo,
    );
    for (const target of targets) {
      this.runners.push(
        new TargetRunner(
          target,
          {
            onApplied: (t, r, d, s) => this.onApplied(t, r, d, s),
            onFailed: (t, e, d) => this.onFailed(t, e, d),
          },
          options.log,
        ),
      );
    }
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  onScope(scope: string, keys: readonly RawKey[]): void {
    if (!isSafeScope(scope)) return this.rejectScope(scope);
    const state = buildClusterState(scope, keys);
    const entry = this.clusters.get(scope);
    this.reportInvalid(scope, state, entry);
    const next = this.computeView(scope, state);
    if (entry) {
      entry.state = state;
      if (isSameView(entry.view, next)) return;
    }
    this.setView(scope, state, next, entry);
  }

  private computeView(scope: string, state: ClusterState): Omit<RouteView, 'generation'> {
    return computeView(state, {
      maxReplicaLagBytes: this.options.maxReplicaLagBytes,
      health: this.health.fact(scope),
    });
  }

  /** The leader health learned something of a cluster's leader (writable, lost, back): a new view. */
  private onLeaderHealth(scope: string): void {
    const entry = this.clusters.get(scope);
    if (!entry) return;
    const next = this.computeView(scope, entry.state);
    if (!isSameView(entry.view, next)) this.setView(scope, entry.state, next, entry);
  }

  onScopeGone(scope: string): void {
    this.rejectedScopes.delete(scope);
    if (!this.clusters.delete(scope)) return;
    this.health.forget(scope);
    this.timeline.forget(scope);
    // With `clusters: ["*"]`, scopes come and go: their series go with them (20,000 churned scopes must
    // not leave 20,000 series behind).
    removeClusterSeries(this.options.metrics, scope);
    this.options.metrics.clusters.set(this.clusters.size);
    this.options.log.info({ cluster: scope }, `cluster ${scope} has no keys anymore; stopped routing it`);
    this.publish();
  }

  onHealth(health: SourceHealth): void {
    const wasConnected = this.dcs.isConnected;
    this.dcs = health;
    this.options.metrics.dcsConnected.set(health.isConnected ? 1 : 0);
    if (!health.isConnected && health.lastError) this.options.metrics.dcsErrors.inc();
    if (health.isConnected) {
      this.hasSynced = true;
      clearTimeout(this.failClosedTimer);
      if (this.isFailedClosed) {
        this.isFailedClosed = false;
        this.generation += 1;
        this.options.log.info('etcd is back; routing from fresh state');
      }
    } else if (wasConnected) {
      this.sentence(`etcd unreachable (${health.lastError ?? 'unknown'}); keeping the last applied routes`);
      if (this.options.onDcsLoss === 'fail_closed') this.armFailClosed();
    }
    this.publish();
  }

  /** Unsafe scope names seen (until their keys go), so each is logged and counted once. */
  private readonly rejectedScopes = new Set<string>();

  /** A scope name from etcd that could not be a Patroni scope: never routed, logged and counted once. */
  private rejectScope(scope: string): void {
    if (this.rejectedScopes.has(scope)) return;
    this.rejectedScopes.add(scope);
    // The hostile name is never a label value: every unsafe scope is counted under one label.
    this.options.metrics.invalidValues.inc({ cluster: UNSAFE_SCOPE_LABEL, key: 'scope' });
    this.options.log.warn(
      { key: '(scope)', reason: unsafeScopeReason(scope) },
      'ignored an invalid DCS value',
    );
  }

  private armFailClosed(): void {
    const ttl = Math.min(...[...this.clusters.values()].map((c) => c.view.ttl), 30);
    clearTimeout(this.failClosedTimer);
    this.failClosedTimer = setTimeout(() => {
      if (this.dcs.isConnected) return;
      this.isFailedClosed = true;
      this.generation += 1;
      this.sentence(`etcd unreachable for ${ttl} s (ttl): routing no writes until it is back (fail_closed)`);
      this.publish();
    }, ttl * 1000);
  }

  private reportInvalid(scope: string, state: ClusterState, entry: ClusterEntry | undefined): void {
    const now = new Set(state.invalid.map((i) => `${i.key}: ${i.reason}`));
    for (const invalid of state.invalid) {
      const id = `${invalid.key}: ${invalid.reason}`;
      if (entry?.invalidKeys.has(id)) continue;
      this.options.metrics.invalidValues.inc({
        cluster: scope,
        key: invalid.key.startsWith('members/') ? 'members' : invalid.key,
      });
      this.options.log.warn(
        { cluster: scope, key: invalid.key, reason: invalid.reason },
        'ignored an invalid DCS value',
      );
    }
    if (entry) entry.invalidKeys = now;
    else this.pendingInvalid = now;
  }

  private pendingInvalid = new Set<string>();

  private setView(
    scope: string,
    state: ClusterState,
    body: Omit<RouteView, 'generation'>,
    entry: ClusterEntry | undefined,
  ): void {
    const view: RouteView = Object.freeze({ ...body, generation: (entry?.view.generation ?? 0) + 1 });
    const previousLeader = entry?.view.leader?.name ?? null;
    const nextLeader = view.leader?.name ?? null;
    const wasLost = entry?.view.leader?.isLost ?? false;
    if (entry) {
      entry.view = view;
    } else {
      this.clusters.set(scope, { state, view, leaderSince: null, invalidKeys: this.pendingInvalid });
      this.pendingInvalid = new Set();
      this.options.metrics.clusters.set(this.clusters.size);
    }
    this.options.metrics.writable.set({ cluster: scope }, view.leader?.isWritable ? 1 : 0);
    // Only with routing.leader_health on: without it no leader is ever lost (no series per cluster).
    if (this.options.liveness)
      this.options.metrics.leaderLost.set({ cluster: scope }, view.leader?.isLost ? 1 : 0);
    this.generation += 1;
    if (entry && previousLeader !== nextLeader) {
      this.options.metrics.leaderChanges.inc({ cluster: scope });
      this.timeline.keyChanged(scope, previousLeader, nextLeader, this.now(), this.generation);
      this.options.log.info(
        { cluster: scope, from: previousLeader, to: nextLeader },
        `leader of ${scope}: ${previousLeader ?? '(none)'} → ${nextLeader ?? '(none)'}`,
      );
    }
    if (view.leader?.isWritable) this.timeline.writable(scope, view.leader.name, this.now(), this.generation);
    if (view.leader && view.leader.isLost !== wasLost && previousLeader === nextLeader)
      this.reportLost(scope, view.leader);
    this.health.follow(scope, view.leader);
    this.publish();
  }

  /** The leader's PostgreSQL was seen dying (or answering again) while the key still names it. */
  private reportLost(scope: string, leader: NonNullable<RouteView['leader']>): void {
    if (leader.isLost) {
      this.timeline.lost(scope, leader.name, this.now());
      this.sentence(
        `leader ${leader.name} of ${scope} is lost (${leader.lostReason ?? ''}) while its key still names it`,
        'warn',
      );
    } else {
      this.timeline.lost(scope, leader.name, null);
      this.sentence(`leader ${leader.name} of ${scope} answers again (${leaderHealthState(leader)})`);
    }
  }

  /** The snapshot targets apply. Nothing is published before the first successful etcd read. */
  snapshot(): RouteSnapshot {
    const views = new Map<string, RouteView>();
    for (const [scope, entry] of this.clusters) {
      views.set(scope, this.isFailedClosed ? Object.freeze({ ...entry.view, leader: null }) : entry.view);
    }
    const dcs: DcsHealth = { isConnected: this.dcs.isConnected, lastContactAt: this.dcs.lastContactAt };
    return { generation: this.generation, views, dcs };
  }

  private publish(): void {
    if (!this.hasSynced) return;
    const snapshot = this.snapshot();
    this.options.metrics.generation.set(snapshot.generation);
    for (const runner of this.runners) runner.submit(snapshot);
  }

  private onApplied(target: Target, result: ApplyResult, durationMs: number, snapshot: RouteSnapshot): void {
    this.options.metrics.applyDuration.observe({ target: target.name }, durationMs / 1000);
    this.options.metrics.appliedGeneration.set({ target: target.name }, result.generation);
    if (result.didChange) this.sentence(result.summary);
    this.timeline.applied(
      target.name,
      result.generation,
      this.now(),
      this.runners.map((r) => r.target.name),
    );
    const appliedByAll = Math.min(...this.runners.map((r) => r.status().appliedGeneration));
    for (const { entry, ms } of this.timeline.routed(appliedByAll, this.now())) {
      const scope = entry.cluster;
      const writable = snapshot.views.get(scope)?.leader?.isWritable;
      this.options.log.info(
        { cluster: scope, from: entry.from, to: entry.to, applyMs: ms, writable },
        `routed ${scope}: ${entry.from ?? '(none)'} → ${entry.to ?? '(none)'} applied by every target in ${ms} ms`,
      );
    }
  }

  private onFailed(target: Target, error: unknown, durationMs: number): void {
    this.options.metrics.applyFailures.inc({ target: target.name });
    this.sentence(`${target.name} failed to apply: ${describeError(error)}`, 'warn', { durationMs });
  }

  private sentence(text: string, level: 'info' | 'warn' = 'info', extra: object = {}): void {
    this.lastSentence = text;
    this.options.log[level](extra, text);
  }

  /** Per-cluster and per-target state for /status and /health. */
  status(): RouterStatus {
    return buildStatus({
      now: this.now(),
      clusters: this.clusters,
      targets: Object.fromEntries(
        this.runners.map((r) => [r.target.name, { ...r.status(), ...(r.target.status?.() ?? {}) }]),
      ),
      holdProblem: (scope) => this.health.holdProblem(scope),
      dcs: this.dcs,
      hasSynced: this.hasSynced,
      isFailedClosed: this.isFailedClosed,
      generation: this.snapshot().generation,
      last: this.lastSentence,
      timeline: this.timeline.list(),
    });
  }

  updateStaleness(): void {
    if (this.dcs.lastContactAt === null) return;
    this.options.metrics.dcsLastSuccess.set(this.dcs.lastContactAt / 1000);
    this.options.metrics.dcsStaleness.set((this.now() - this.dcs.lastContactAt) / 1000);
  }

  /** Closes every target; those named in `handover` are detached instead (a config reload keeps them). */
  async close(handover: ReadonlySet<string> = new Set()): Promise<void> {
    clearTimeout(this.failClosedTimer);
    this.health.close();
    await Promise.all(
      this.runners.map((r) =>
        r
          .close(5000, handover.has(r.target.name))
          .catch((err) =>
            this.options.log.error({ target: r.target.name, err: describeError(err) }, 'target close failed'),
          ),
      ),
    );
  }
}

export type { RouterStatus } from './status.js';
