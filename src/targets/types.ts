import type { Logger } from 'pino';
import type { RouteView } from '../route/view.js';

/** Everything the targets route, at one moment. */
export interface RouteSnapshot {
  /** Increases on every change of any cluster's view. A target reports the one it applied. */
  readonly generation: number;
  readonly views: ReadonlyMap<string, RouteView>;
  readonly dcs: DcsHealth;
}

export interface DcsHealth {
  readonly isConnected: boolean;
  /** Epoch ms of the last successful etcd read; null before the first. */
  readonly lastContactAt: number | null;
}

export interface ApplyResult {
  readonly generation: number;
  /** One sentence: what happened ("routed writes for app to pg2 via runtime API (generation 42)"). */
  readonly summary: string;
  /** False when the layer already matched and nothing was touched. */
  readonly didChange: boolean;
}

export interface TargetContext {
  readonly log: Logger;
  /** Time source, so pure parts can be tested with a fake clock. */
  readonly now: () => number;
}

/**
 * One routing layer. Life cycle: `create` (the factory: validate only — it may read its own inputs,
 * a template or a secret file, so `switchyard check` reports them — but it writes nothing, connects
 * nowhere, and starts no timers, exit hooks or helper processes) → `start` (begin reconciling: only
 * `switchyard route` calls it) → `apply(snapshot)` any number of times → `close`. `apply` makes the
 * layer match the snapshot and is never called concurrently for the same target (the router coalesces:
 * only the latest snapshot is applied). Throw a SwitchyardError on failure; the router retries with
 * backoff and shows the error. One-shot commands (`render`, `check`, `switchover`) never call `start`.
 * A target folder holds `index.ts` (the target and its factory), `config.ts` (schema), a pure plan or
 * render module, and its I/O modules.
 */
export interface Target {
  readonly kind: string;
  /** Unique within a router, e.g. `haproxy`, `vip`. */
  readonly name: string;
  /** Begin acting on the host (loops, timers, exit hooks). Called once, before the first `apply`. */
  start(): Promise<void>;
  apply(snapshot: RouteSnapshot): Promise<ApplyResult>;
  /** Periodic reconcile hook (e.g. the VIP re-checks its address); optional. */
  reconcileIntervalMs?: number;
  /** Release what must not outlive the router (a VIP) and close connections. Called on every exit path. */
  close(): Promise<void>;
  /**
   * Optional: stop without releasing, so the instance built from a reloaded config (SIGHUP) adopts the
   * live state (a VIP stays up through a reload). Only called when the new config has this target too.
   */
  detach?(): Promise<void>;
  /**
   * Extra target-specific fields for /status (warnings, socket state...). Must hold no secrets. A
   * numeric `counters` object is also exported as Prometheus counters `switchyard_<name>_<key>_total`.
   */
  status?(): Record<string, unknown>;
}

/** A file a target would write: where, what, and with which mode and owner (secrets: 0600, the reader's owner). */
export interface PreviewFile {
  readonly path: string;
  readonly contents: string;
  readonly mode?: number;
  readonly owner?: { readonly uid: number; readonly gid: number } | null;
}

/** Optional: the files a target would write for a snapshot, without touching disk (`switchyard render`). */
export interface RenderableTarget extends Target {
  preview(snapshot: RouteSnapshot): Promise<PreviewFile[]>;
}

export function isRenderable(target: Target): target is RenderableTarget {
  return typeof (target as Partial<RenderableTarget>).preview === 'function';
}
