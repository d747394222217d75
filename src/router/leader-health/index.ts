import type { Logger } from 'pino';
import type { RouterConfig } from '../../config/router.js';
import { describeError } from '../../errors.js';
import type { LeaderHealthFact, RouteLeader } from '../../route/view.js';
import {
  LeaderLiveness,
  holdPostgres,
  probeTcp,
  type Endpoint,
  type Hold,
  type LivenessSettings,
  type ProbeResult,
} from './liveness.js';
import { probeSettingsOf, probeUntilWritable, type ProbeOutcome, type ProbeSettings } from './probe.js';

/** Connect deadline of the held session (a login on a busy primary can take a while; the TCP probe does not wait for it). */
const HOLD_CONNECT_TIMEOUT_MS = 2000;

export interface LeaderHealthSettings {
  readonly probe: ProbeSettings;
  /** The held session and TCP probe on each writable leader; null = off (`routing.leader_health.enabled`). */
  readonly liveness: (LivenessSettings & { readonly hold: boolean }) | null;
}

/** The leader health of a router config (`routing.writable_probe`, `routing.leader_health`). */
export function leaderHealthSettingsOf(config: RouterConfig): LeaderHealthSettings {
  const l = config.routing.leader_health;
  return {
    probe: probeSettingsOf(config),
    liveness: l.enabled
      ? { intervalMs: l.interval_ms, timeoutMs: l.timeout_ms, failures: l.failures, hold: l.hold }
      : null,
  };
}

/** The I/O the module does, replaceable in unit tests (a real PostgreSQL is used by the integration tests). */
export interface LeaderHealthIo {
  readonly probeWritable?: typeof probeUntilWritable;
  readonly probeTcp?: (endpoint: Endpoint, timeoutMs: number) => Promise<ProbeResult>;
  /** Replaces the held PostgreSQL session; null = no hold. */
  readonly hold?: Hold | null;
}

export interface LeaderHealthHooks {
  /** A fact of `scope`'s current leadership changed: recompute its view. */
  onChange(scope: string): void;
  /** The writable probe gave up on a leader (deadline passed, or it stayed read-only). */
  onNeverWritable(scope: string, leader: string, reason: string): void;
}

interface Tracked {
  readonly name: string;
  readonly leaderRevision: number;
  readonly endpoint: Endpoint;
  isProbedWritable: boolean;
  /** The view already counts it writable (member key): no probe needed. */
  isViewWritable: boolean;
}

/**
 * The router's one owner of "is the leader alive, is it writable", per cluster and leadership (member name
 * and leader-key revision): the writable probe runs while a new leader is not yet writable
 * (`routing.writable_probe`); once it is, a session is held on it and its port probed (`LeaderLiveness`), so
 * a dead PostgreSQL is seen within milliseconds while the key still names it. The router asks `fact` when it
 * computes a view and calls `follow` with each new view's leader; every target, /status and the metrics then
 * see the same facts. One instance per router, never per target.
 */
export class LeaderHealth {
  private readonly tracked = new Map<string, Tracked>();
  private readonly probing = new Set<string>();
  private readonly liveness: LeaderLiveness | null;
  private readonly probeWritable: typeof probeUntilWritable;
  private isClosed = false;

  constructor(
    private readonly settings: LeaderHealthSettings,
    private readonly hooks: LeaderHealthHooks,
    private readonly log: Logger,
    io: LeaderHealthIo = {},
  ) {
    this.probeWritable = io.probeWritable ?? probeUntilWritable;
    const l = settings.liveness;
    const hold =
      io.hold !== undefined
        ? io.hold
        : l?.hold
          ? holdPostgres(
              { user: settings.probe.user, dbname: settings.probe.dbname, password: settings.probe.password },
              HOLD_CONNECT_TIMEOUT_MS,
            )
          : null;
    this.liveness = l
      ? new LeaderLiveness(
          l,
          (scope) => this.hooks.onChange(scope),
          (scope, endpoint, message) =>
            this.log.warn(
              { cluster: scope },
              `leader_health.hold cannot log in to ${endpoint.host}:${endpoint.port} (${message}); a dead primary is found by the probe only`,
            ),
          io.probeTcp ?? probeTcp,
          hold,
        )
      : null;
  }

  /** What is known of `scope`'s current leadership, for `computeView` (undefined: nothing yet). */
  fact(scope: string): LeaderHealthFact | undefined {
    const t = this.tracked.get(scope);
    if (!t) return undefined;
    return {
      name: t.name,
      leaderRevision: t.leaderRevision,
      isProbedWritable: t.isProbedWritable,
      lostReason: this.liveness?.lostReason(scope, t.endpoint) ?? null,
    };
  }

  /** Why `scope`'s leader cannot be held (login refused), for /status; null when it can or is not held. */
  holdProblem(scope: string): string | null {
    return this.liveness?.holdProblem(scope) ?? null;
  }

  /**
   * `scope`'s view now names `leader` (or none). A new leadership drops the old one's facts and releases its
   * held session; a leader not yet writable is probed until it is; a writable one is held and watched.
   */
  follow(scope: string, leader: RouteLeader | null): void {
    if (this.isClosed) return;
    if (!leader) return this.forget(scope);
    let t = this.tracked.get(scope);
    if (!t || t.name !== leader.name || t.leaderRevision !== leader.leaderRevision) {
      t = {
        name: leader.name,
        leaderRevision: leader.leaderRevision,
        endpoint: { host: leader.host, port: leader.port, id: `${leader.name}/${leader.leaderRevision}` },
        isProbedWritable: false,
        isViewWritable: false,
      };
      this.tracked.set(scope, t);
    }
    t.isViewWritable = leader.isWritable;
    if (!leader.isWritable) this.startProbe(scope, leader);
    this.liveness?.watch(new Map([[scope, leader.isWritable ? t.endpoint : null]]));
  }

  /** The cluster is gone (or has no leader): its facts and held session go. */
  forget(scope: string): void {
    this.tracked.delete(scope);
    this.liveness?.forget(scope);
  }

  private isCurrent(scope: string, t: Tracked): boolean {
    return !this.isClosed && this.tracked.get(scope) === t && !t.isProbedWritable && !t.isViewWritable;
  }

  private startProbe(scope: string, leader: RouteLeader): void {
    const t = this.tracked.get(scope);
    if (!t || this.settings.probe.method === 'member') return;
    const id = `${scope}/${leader.name}/${leader.leaderRevision}`;
    if (this.probing.has(id)) return;
    this.probing.add(id);
    void this.probeWritable(leader, this.settings.probe, () => this.isCurrent(scope, t))
      .then((outcome: ProbeOutcome) => {
        if (!this.isCurrent(scope, t)) return;
        if (!outcome.isWritable) return this.hooks.onNeverWritable(scope, leader.name, outcome.reason);
        t.isProbedWritable = true;
        this.hooks.onChange(scope);
      })
      .catch((err: unknown) => this.log.error({ err: describeError(err) }, 'writable probe crashed'))
      .finally(() => this.probing.delete(id));
  }

  /** Stops every probe and releases every held session; no timer is left. Probes in flight end by their deadline. */
  close(): void {
    this.isClosed = true;
    this.tracked.clear();
    this.liveness?.stop();
  }

  /** No leader followed and no liveness timer left (life-cycle tests). */
  get isIdle(): boolean {
    return this.tracked.size === 0 && (this.liveness?.isIdle ?? true);
  }
}
