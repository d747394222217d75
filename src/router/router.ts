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
import { computeView, isSameView, type RouteView, type ViewOptions } from '../route/view.js';
import type { ApplyResult, DcsHealth, RouteSnapshot, Target } from '../targets/types.js';
import { UNSAFE_SCOPE_LABEL, removeClusterSeries, type Metrics } from './metrics.js';
import { probeUntilWritable, type ProbeSettings } from './probe.js';
import { TargetRunner } from './runner.js';
import { buildStatus, type RouterStatus } from './status.js';
import { LeaderTimeline } from './timeline.js';

export interface RouterOptions {
  log: Logger;
  metrics: Metrics;
  maxReplicaLagBytes: number | null;
  probe: ProbeSettings;
  /** `fail_closed`: once etcd has been unreachable for a cluster's ttl, route no writes for it. */
  onDcsLoss: 'keep' | 'fail_closed';
  now?: () => number;
}

interface ClusterEntry {
  state: ClusterState;
  view: RouteView;
  probe: ViewOptions['probe'];
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
  private readonly probing = new Set<string>();
  private failClosedTimer: NodeJS.Timeout | undefined;
  private isFailedClosed = false;
  private lastSentence = 'starting: waiting for the first etcd read';
  private readonly timeline = new LeaderTimeline();

  constructor(
    targets: readonly Target[],
    private readonly options: RouterOptions,
  ) {
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
    let probe = entry?.probe;
    if (probe && (probe.name !== state.leader?.name || probe.leaderRevision !== state.leader?.modRevision))
      probe = undefined;
    const next = computeView(state, { maxReplicaLagBytes: this.options.maxReplicaLagBytes, probe });
    if (entry) {
      entry.state = state;
      entry.probe = probe;
      if (isSameView(entry.view, next)) return;
    }
    this.setView(scope, state, next, probe, entry);
  }

  onScopeGone(scope: string): void {
    this.rejectedScopes.delete(scope);
    if (!this.clusters.delete(scope)) return;
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
    probe: ViewOptions['probe'],
    entry: ClusterEntry | undefined,
  ): void {
    const view: RouteView = Object.freeze({ ...body, generation: (entry?.view.generation ?? 0) + 1 });
    const previousLeader = entry?.view.leader?.name ?? null;
    const nextLeader = view.leader?.name ?? null;
    if (entry) {
      entry.view = view;
      entry.probe = probe;
    } else {
      this.clusters.set(scope, { state, view, probe, leaderSince: null, invalidKeys: this.pendingInvalid });
      this.pendingInvalid = new Set();
      this.options.metrics.clusters.set(this.clusters.size);
    }
    this.options.metrics.writable.set({ cluster: scope }, view.leader?.isWritable ? 1 : 0);
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
    if (view.leader && !view.leader.isWritable) this.startProbe(scope, view);
    this.publish();
  }

  private startProbe(scope: string, view: RouteView): void {
    const leader = view.leader;
    if (!leader || this.options.probe.method === 'member') return;
    const id = `${scope}/${leader.name}/${leader.leaderRevision}`;
    if (this.probing.has(id)) return;
    this.probing.add(id);
    const isCurrent = () => {
      const current = this.clusters.get(scope)?.view.leader;
      return (
        current?.name === leader.name &&
        current.leaderRevision === leader.leaderRevision &&
        !current.isWritable
      );
    };
    void probeUntilWritable(leader, this.options.probe, isCurrent)
      .then((outcome) => {
        const entry = this.clusters.get(scope);
        if (!entry || !isCurrent()) return;
        if (!outcome.isWritable) {
          this.sentence(
            `leader ${leader.name} of ${scope} never became writable: ${outcome.reason}; no writes routed`,
          );
          return;
        }
        entry.probe = { name: leader.name, leaderRevision: leader.leaderRevision, isWritable: true };
        const next = computeView(entry.state, {
          maxReplicaLagBytes: this.options.maxReplicaLagBytes,
          probe: entry.probe,
        });
        if (!isSameView(entry.view, next)) this.setView(scope, entry.state, next, entry.probe, entry);
      })
      .catch((err) => this.options.log.error({ err: describeError(err) }, 'writable probe crashed'))
      .finally(() => this.probing.delete(id));
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
