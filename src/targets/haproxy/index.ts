import { describeError, SwitchyardError } from '../../errors.js';
import { writer, type RouteServer, type RouteView } from '../../route/view.js';
import { defineTarget, type TargetCreateContext } from '../registry.js';
import type { ApplyResult, PreviewFile, RouteSnapshot, Target } from '../types.js';
import { HaproxyConfigSchema, type HaproxyConfig } from './config.js';
import {
  backendNames,
  buildContext,
  structuralKey,
  type ContextCache,
  type HaproxyTemplateContext,
} from './context.js';
import { describeMissing, HaproxyLayer } from './layer.js';
import { missingServers, planRuntime, type DesiredBackend } from './plan.js';
import { NOTHING_RETAINED, nextExpiry, retainMembers, type Retained } from './retention.js';
import { parseServersState, runBatch } from './runtime.js';

/** How often a reconcile compares every live server with the wanted state (drift made by hand). */
const FULL_CHECK_MS = 10_000;
/** Shortest time between two background file writes (the file only matters for HAProxy's next start). */
const FILE_SYNC_MS = 1000;

interface RuntimeStatus {
  socket: string;
  connected: boolean;
  lastError: string | null;
  lastCommands: number;
  fullReapplies: number;
  /** Servers of the file the running HAProxy lacks (last read back); a reload is due while non-empty. */
  missing: string[];
}

/**
 * HAProxy: a rendered config file (validated, atomically swapped, reloaded only when listeners or
 * servers change or when there is no runtime API) plus, when `runtime_api` is set, live server states
 * through the stats socket: fence the old primary at once, route to the new one once writable. With the
 * runtime API, what HAProxy runs is read back (`show servers state`) at start and after every reload,
 * never assumed from the file: a server the file has and HAProxy lacks means a reload, and the apply
 * does not succeed until the read-back matches.
 */
export class HaproxyTarget implements Target {
  readonly kind = 'haproxy';
  readonly name = 'haproxy';
  readonly reconcileIntervalMs: number | undefined;
  private readonly layer: HaproxyLayer;
  /** Structure (listeners, servers) the running HAProxy is known to run; null = unknown. */
  private liveStructure: string | null = null;
  private previousWriters = new Map<string, string | null>();
  private lastGeneration = -1;
  private readonly runtime: RuntimeStatus | null;

  constructor(
    private readonly config: HaproxyConfig,
    private readonly ctx: TargetCreateContext,
  ) {
    this.layer = new HaproxyLayer(config, ctx.configDir, ctx.log);
    this.runtime = config.runtime_api
      ? {
          socket: config.runtime_api,
          connected: false,
          lastError: null,
          lastCommands: 0,
          fullReapplies: 0,
          missing: [],
        }
      : null;
    this.reconcileIntervalMs = config.runtime_api ? 1000 : undefined;
  }

  /** Renders without touching disk. */
  async render(snapshot: RouteSnapshot): Promise<{ text: string; context: HaproxyTemplateContext }> {
    const retained = new Map<string, readonly RouteServer[]>();
    for (const [scope, r] of this.retained) retained.set(scope, r.members);
    const context = buildContext(this.config, snapshot.views, snapshot.generation, writer, retained);
    return { text: await this.layer.render(context), context };
  }

  async preview(snapshot: RouteSnapshot): Promise<PreviewFile[]> {
    if (this.layer.output === null) return []; // remote mode: the remote box keeps its own file
    return [{ path: this.layer.output, contents: (await this.render(snapshot)).text }];
  }

  async start(): Promise<void> {}

  async apply(snapshot: RouteSnapshot): Promise<ApplyResult> {
    const isReconcile = snapshot.generation === this.lastGeneration;
    const now = this.ctx.now();
    if (
      isReconcile &&
      this.runtime &&
      this.isSettled &&
      now < this.nextExpiryAt &&
      !(await this.isFullCheckDue().catch(() => true))
    ) {
      // The periodic reconcile of a settled router: same views, same HAProxy worker, no full check due.
      // One `show info`, nothing proportional to the number of clusters (an idle router stays near 0% CPU).
      return {
        generation: snapshot.generation,
        didChange: false,
        summary: `haproxy: already current (generation ${snapshot.generation})`,
      };
    }
    this.isSettled = false;
    const context = buildContext(
      this.config,
      snapshot.views,
      snapshot.generation,
      writer,
      this.retainedMembers(snapshot.views, now),
      this.contextCache,
    );
    const structure = structuralKey(context);
    const moved = context.clusters.filter((c) => this.previousWriters.get(c.scope) !== c.writer);
    const parts: string[] = [];
    let isRuntimeApplied = false;
    let isReadBack = false;
    if (this.runtime) {
      try {
        // A reconcile that got here reads the full live state (new worker, full check due, or a retry).
        const sent = await this.applyRuntime(snapshot.views, context, isReconcile);
        isReadBack = true;
        isRuntimeApplied = this.runtime.missing.length === 0;
        if (sent > 0) parts.push(`runtime API: ${sent} command${sent > 1 ? 's' : ''}`);
      } catch (err) {
        this.runtime.connected = false;
        this.runtime.lastError = describeError(err);
        this.ctx.log.warn(
          { err: this.runtime.lastError },
          this.layer.output === null
            ? 'remote HAProxy runtime API failed'
            : 'HAProxy runtime API failed; falling back to file and reload',
        );
      }
    }
    if (this.layer.output === null) {
      this.throwUnlessRemoteApplied(isRuntimeApplied);
      this.liveStructure = structure;
    } else if (isRuntimeApplied && this.liveStructure === structure) {
      // Live state is right; the file only has to follow for the next start. Rendering and checking a
      // large file is proportional to the number of clusters, so it runs after this apply, coalesced.
      this.syncFileInBackground(context);
    } else {
      const didWrite = await this.layer.writeFile(context);
      if (didWrite) parts.push('file written');
      const missing = this.runtime?.missing ?? [];
      // Without a read-back (no runtime API, or it failed) the unchanged file is taken as what runs.
      if (this.liveStructure === null && !didWrite && (!isReadBack || missing.length === 0))
        this.liveStructure = structure;
      const needsReload =
        this.liveStructure !== structure || missing.length > 0 || (didWrite && !isRuntimeApplied);
      if (needsReload && this.config.reload === null && isReadBack && missing.length > 0) {
        throw new SwitchyardError(
          'SY_ERR_TARGET_APPLY',
          `the running HAProxy lacks ${describeMissing(missing)} of ${this.layer.output}, and targets.haproxy.reload is not set: reload HAProxy or set reload`,
        );
      }
      if (this.config.reload !== null && needsReload) {
        await this.layer.reload(); // on failure liveStructure stays what it was: the next pass retries
        parts.push('reloaded');
        if (this.runtime) {
          await this.layer.verifyReload(context);
          await this.applyRuntime(snapshot.views, context, true);
          isRuntimeApplied = this.runtime.missing.length === 0;
        }
      }
      this.liveStructure = structure;
    }
    this.lastGeneration = snapshot.generation;
    this.isSettled = isRuntimeApplied;
    for (const c of context.clusters) this.previousWriters.set(c.scope, c.writer);
    const writes = moved.slice(0, 5).map((c) => `${c.scope} → ${c.writer ?? '(none)'}`);
    if (moved.length > 5) writes.push(`${moved.length - 5} more`);
    return {
      generation: snapshot.generation,
      didChange: parts.length > 0,
      summary: `haproxy: ${parts.length ? parts.join(', ') : 'already current'}${writes.length ? `; writes ${writes.join(', ')}` : ''} (generation ${snapshot.generation})`,
    };
  }

  /**
   * Remote mode (no `output`): the runtime API is the only lever. A failed read-back or a server the
   * remote HAProxy lacks fails the apply (retried by the next reconcile); nothing is written or reloaded.
   */
  private throwUnlessRemoteApplied(isRuntimeApplied: boolean): void {
    const runtime = this.runtime as RuntimeStatus;
    if (runtime.lastError !== null)
      throw new SwitchyardError(
        'SY_ERR_RUNTIME_API',
        `targets.haproxy.runtime_api ${runtime.socket}: ${runtime.lastError} (remote mode, retried on the next reconcile)`,
      );
    if (!isRuntimeApplied)
      throw new SwitchyardError(
        'SY_ERR_TARGET_APPLY',
        `the remote HAProxy at ${runtime.socket} lacks ${describeMissing(runtime.missing)}: its config must list every member of the cluster with the address and port the router expects (the router cannot reload a remote HAProxy; see docs/haproxy.md, "Remote HAProxy")`,
      );
  }

  private syncFileInBackground(context: HaproxyTemplateContext): void {
    const isIdle = this.pendingFile === null;
    this.pendingFile = context;
    if (!isIdle) return;
    void (async () => {
      while (this.pendingFile) {
        const next = this.pendingFile;
        const startedAt = Date.now();
        try {
          await this.layer.writeFile(next);
        } catch (err) {
          this.ctx.log.error(
            { err: describeError(err) },
            'HAProxy file not updated; live state is correct, a restart would not be',
          );
        }
        if (this.pendingFile === next) this.pendingFile = null;
        // Rendering and `haproxy -c` of a large file cost CPU in proportion to the clusters: under a burst
        // of leader changes, write at most once per FILE_SYNC_MS (the latest state; live state is exact).
        const wait = startedAt + FILE_SYNC_MS - Date.now();
        if (this.pendingFile && wait > 0) await new Promise((r) => setTimeout(r, wait).unref());
      }
    })();
  }

  private pendingFile: HaproxyTemplateContext | null = null;

  /**
   * Makes live server states match the views; returns how many commands were sent. Records in
   * `runtime.missing` the servers of the read clusters that the running HAProxy lacks.
   */
  private async applyRuntime(
    views: ReadonlyMap<string, RouteView>,
    context: HaproxyTemplateContext,
    isFull: boolean,
  ): Promise<number> {
    const runtime = this.runtime as RuntimeStatus;
    const timeout = this.layer.runtimeTimeoutMs;
    const changed = context.clusters.filter(
      (c) =>
        isFull ||
        this.previousWriters.get(c.scope) !== c.writer ||
        !this.previousWriters.has(c.scope) ||
        views.get(c.scope)?.generation !== this.appliedViewGenerations.get(c.scope),
    );
    if (changed.length === 0) return 0;
    const backends = changed.flatMap((c) => [c.primary.name, ...(c.replicas ? [c.replicas.name] : [])]);
    const query =
      changed.length === context.clusters.length
        ? 'show servers state'
        : backends.map((b) => `show servers state ${b}`).join(';');
    const live = parseServersState(await this.layer.query(query));
    const desired: DesiredBackend[] = [];
    const alwaysFence = new Set<string>();
    for (const c of changed) {
      const names = backendNames(c.scope);
      desired.push({ backend: names.primary, up: c.writer ? [c.writer] : [], isFencing: true });
      const old = this.previousWriters.get(c.scope);
      if (old && old !== c.writer) alwaysFence.add(`${names.primary}/${old}`);
      if (c.replicas) {
        const up = c.replicas.servers.filter((s) => !s.isBackup).map((s) => s.name);
        desired.push({ backend: names.replicas, up, isFencing: false });
      }
    }
    const plan = planRuntime(desired, live, alwaysFence);
    const missing = missingServers(changed, live);
    if (missing.length > 0 && runtime.missing.length === 0)
      this.ctx.log.warn(
        { missing: missing.slice(0, 10) },
        `the running HAProxy lacks ${describeMissing(missing)} of its file: reloading`,
      );
    runtime.missing = missing;
    await runBatch(runtime.socket, plan.fence, timeout);
    await runBatch(runtime.socket, plan.route, timeout);
    const sent = plan.fence.length + plan.route.length;
    if (isFull) this.lastFullCheckAt = Date.now();
    if (isFull && sent > 0 && runtime.connected) runtime.fullReapplies += 1;
    runtime.connected = true;
    runtime.lastError = null;
    runtime.lastCommands = sent;
    for (const c of changed) this.appliedViewGenerations.set(c.scope, views.get(c.scope)?.generation ?? 0);
    if (sent > 0 && this.config.state_file) await this.layer.saveServerState();
    return sent;
  }

  private readonly appliedViewGenerations = new Map<string, number>();
  private readonly contextCache: ContextCache = new Map();
  /** Per cluster: members seen, kept as backups until gone for `gone_member_retention_ms`. */
  private readonly retained = new Map<string, Retained>();
  /** Views whose members are already in `retained` (by identity: views are replaced, never changed). */
  private readonly retainedFrom = new Map<string, RouteView>();
  /** When the first gone member expires: a settled reconcile stops short only before then. */
  private nextExpiryAt = Infinity;

  private retainedMembers(
    views: ReadonlyMap<string, RouteView>,
    now: number,
  ): Map<string, readonly RouteServer[]> {
    const out = new Map<string, readonly RouteServer[]>();
    const retentionMs = this.config.gone_member_retention_ms;
    let expiry = Infinity;
    for (const scope of Object.keys(this.config.frontends)) {
      const view = views.get(scope);
      const isNewView = view !== undefined && this.retainedFrom.get(scope) !== view;
      if (view) this.retainedFrom.set(scope, view);
      const before = this.retained.get(scope) ?? NOTHING_RETAINED;
      const after = retainMembers(before, isNewView ? view.members : undefined, now, retentionMs);
      if (after !== before) this.retained.set(scope, after);
      expiry = Math.min(expiry, nextExpiry(after, retentionMs));
      out.set(scope, after.members);
    }
    this.nextExpiryAt = expiry;
    return out;
  }

  private liveWorkerPid: string | null = null;
  private lastFullCheckAt = 0;
  /** The last apply went through the runtime API completely: a reconcile may stop at `show info`. */
  private isSettled = false;

  /** True when the HAProxy worker is not the one last reconciled, or a full check is due. */
  private async isFullCheckDue(): Promise<boolean> {
    const info = await this.layer.query('show info');
    const pid = /^Pid: (\d+)$/m.exec(info)?.[1] ?? null;
    const isNewWorker = pid !== this.liveWorkerPid;
    if (isNewWorker && this.liveWorkerPid !== null) {
      this.ctx.log.info({ pid }, 'HAProxy worker changed (restart or reload): re-applying the full state');
    }
    this.liveWorkerPid = pid;
    return isNewWorker || Date.now() - this.lastFullCheckAt >= FULL_CHECK_MS;
  }

  status(): Record<string, unknown> {
    return {
      output: this.layer.output,
      file_error: this.layer.fileError,
      reloads: this.layer.reloads,
      rollbacks: this.layer.rollbacks,
      ...(this.runtime
        ? { runtime_api: { ...this.runtime, missing: this.runtime.missing.slice(0, 10) } }
        : {}),
    };
  }

  async close(): Promise<void> {
    // Nothing to release: HAProxy keeps serving the last state, and its own checks keep it converging.
  }
}

export const haproxyTarget = defineTarget({
  key: 'haproxy',
  schema: HaproxyConfigSchema,
  create: (config, ctx) => new HaproxyTarget(config, ctx),
});
