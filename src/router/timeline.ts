/** One leader change of one cluster, as the router saw it: each step's time in epoch milliseconds. */
export interface TimelineEntry {
  readonly cluster: string;
  readonly from: string | null;
  readonly to: string | null;
  /** When the router read the leader key naming `to`. */
  readonly keyChangedAt: number;
  /** When `to` counted as writable (member key or writable probe); null while it does not. */
  writableAt: number | null;
  /** Router generation whose snapshot routes writes to `to`; null until writable. */
  generation: number | null;
  /** Per target: when it applied `generation`. */
  readonly appliedAt: Record<string, number>;
  /** When the router's leader health saw `to`'s PostgreSQL die while the key still named it; null while alive. */
  lostAt: number | null;
  /** When the last target applied it: the end of the change for clients. */
  allAppliedAt: number | null;
}

/**
 * The last leader changes per router, newest first, for `/status` and the status page: key change →
 * writable → every target applied. Fed by the router; pure bookkeeping, no timers, no I/O.
 */
export class LeaderTimeline {
  private readonly entries: TimelineEntry[] = [];
  /**
   * Per cluster, its newest change until every target applied the snapshot that first carried it
   * (writable or not): the router's "routed … applied by every target in N ms" line. A newer change
   * of the same cluster replaces it.
   */
  private readonly unrouted = new Map<string, { entry: TimelineEntry; generation: number }>();

  constructor(private readonly capacity = 20) {}

  /**
   * The router read a leader key naming a different member (or none); `generation` numbers the
   * snapshot that first carries it (without it the change is never reported by {@link routed}).
   */
  keyChanged(cluster: string, from: string | null, to: string | null, at: number, generation?: number): void {
    const entry: TimelineEntry = {
      cluster,
      from,
      to,
      keyChangedAt: at,
      writableAt: null,
      generation: null,
      appliedAt: {},
      lostAt: null,
      allAppliedAt: null,
    };
    this.entries.unshift(entry);
    this.entries.length = Math.min(this.entries.length, this.capacity);
    if (generation !== undefined) this.unrouted.set(cluster, { entry, generation });
  }

  /** The cluster is gone: its change in flight is not reported. */
  forget(cluster: string): void {
    this.unrouted.delete(cluster);
  }

  /**
   * Changes whose first snapshot every target has now applied (`appliedByAll`: the lowest generation
   * applied by every target), each returned once with its duration from the key change to `at`.
   */
  routed(appliedByAll: number, at: number): { entry: TimelineEntry; ms: number }[] {
    const done: { entry: TimelineEntry; ms: number }[] = [];
    for (const [cluster, { entry, generation }] of this.unrouted) {
      if (appliedByAll < generation) continue;
      this.unrouted.delete(cluster);
      done.push({ entry, ms: at - entry.keyChangedAt });
    }
    return done;
  }

  /** `leader` of `cluster` counts as writable in the snapshot numbered `generation`. */
  writable(cluster: string, leader: string, at: number, generation: number): void {
    const open = this.entries.find((e) => e.cluster === cluster);
    if (!open || open.to !== leader || open.writableAt !== null) return;
    open.writableAt = at;
    open.generation = generation;
  }

  /**
   * `leader` of `cluster` was seen dead at `at` (null: it answers again), shown on its newest change. A
   * leader the router found already in place (no change seen) has no entry: /status shows it per cluster.
   */
  lost(cluster: string, leader: string, at: number | null): void {
    const open = this.entries.find((e) => e.cluster === cluster);
    if (open?.to === leader) open.lostAt = at;
  }

  /** `target` applied the snapshot numbered `generation`; `targets` names every target of the router. */
  applied(target: string, generation: number, at: number, targets: readonly string[]): void {
    for (const e of this.entries) {
      if (e.generation === null || e.allAppliedAt !== null || generation < e.generation) continue;
      e.appliedAt[target] ??= at;
      if (targets.every((t) => e.appliedAt[t] !== undefined)) e.allAppliedAt = at;
    }
  }

  /** Newest first; each step also as milliseconds after the key change. */
  list(): TimelineStep[] {
    return this.entries.map((e) => {
      const after = (t: number | null) => (t === null ? null : t - e.keyChangedAt);
      return {
        cluster: e.cluster,
        from: e.from,
        to: e.to,
        key_changed_at: new Date(e.keyChangedAt).toISOString(),
        writable_ms: after(e.writableAt),
        applied_ms: Object.fromEntries(
          Object.entries(e.appliedAt).map(([t, at]) => [t, at - e.keyChangedAt]),
        ),
        all_applied_ms: after(e.allAppliedAt),
        lost_ms: after(e.lostAt),
      };
    });
  }
}

/** A timeline entry as `/status` shows it. */
export interface TimelineStep {
  cluster: string;
  from: string | null;
  to: string | null;
  key_changed_at: string;
  writable_ms: number | null;
  applied_ms: Record<string, number>;
  all_applied_ms: number | null;
  /** Milliseconds after the key change when `to` was seen dead (leader health); null while alive. */
  lost_ms: number | null;
}
