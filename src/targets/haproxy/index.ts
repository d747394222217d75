import { resolve } from 'node:path';
import { describeError, SwitchyardError } from '../../errors.js';
import {
  renderFile,
  restoreBackup,
  runCommand,
  loadTemplate,
  type CompiledTemplate,
} from '../../render/index.js';
import { defaultTemplate } from '../../paths.js';
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
import { parseServersState, planRuntime, runBatch, runtimeCommand, type DesiredBackend } from './runtime.js';

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
}

/**
 * HAProxy: a rendered config file (validated, atomically swapped, reloaded only when listeners or
 * servers change or when there is no runtime API) plus, when `runtime_api` is set, live server states
 * through the stats socket: fence the old primary at once, route to the new one once writable.
 */
export class HaproxyTarget implements Target {
  readonly kind = 'haproxy';
  readonly name = 'haproxy';
  readonly reconcileIntervalMs: number | undefined;
  private template: CompiledTemplate | null = null;
  private liveStructure: string | null = null;
  private previousWriters = new Map<string, string | null>();
  private lastGeneration = -1;
  private reloads = 0;
  private rollbacks = 0;
  private readonly runtime: RuntimeStatus | null;
  private readonly output: string;

  constructor(
    private readonly config: HaproxyConfig,
    private readonly ctx: TargetCreateContext,
  ) {
    this.output = resolve(ctx.configDir, config.output);
    this.runtime = config.runtime_api
      ? { socket: config.runtime_api, connected: false, lastError: null, lastCommands: 0, fullReapplies: 0 }
      : null;
    this.reconcileIntervalMs = config.runtime_api ? 1000 : undefined;
  }

  /** Renders without touching disk. */
  async render(snapshot: RouteSnapshot): Promise<{ text: string; context: HaproxyTemplateContext }> {
    this.template ??= await loadTemplate(
      resolve(this.ctx.configDir, this.config.template ?? defaultTemplate('haproxy.cfg.hbs')),
    );
    const context = buildContext(this.config, snapshot.views, snapshot.generation, writer, this.retained);
    return { text: this.template(context), context };
  }

  async preview(snapshot: RouteSnapshot): Promise<PreviewFile[]> {
    return [{ path: this.output, contents: (await this.render(snapshot)).text }];
  }

  async start(): Promise<void> {}

  async apply(snapshot: RouteSnapshot): Promise<ApplyResult> {
    const isReconcile = snapshot.generation === this.lastGeneration;
    if (isReconcile && this.runtime && this.isSettled && !(await this.isFullCheckDue().catch(() => true))) {
      // The periodic reconcile of a settled router: same views, same HAProxy worker, no full check due.
      // One `show info`, nothing proportional to the number of clusters (an idle router stays near 0% CPU).
      return {
        generation: snapshot.generation,
        didChange: false,
        summary: `haproxy: already current (generation ${snapshot.generation})`,
      };
    }
    this.isSettled = false;
    this.retainMembers(snapshot.views);
    const context = buildContext(
      this.config,
      snapshot.views,
      snapshot.generation,
      writer,
      this.retained,
      this.contextCache,
    );
    const structure = structuralKey(context);
    const moved = context.clusters.filter((c) => this.previousWriters.get(c.scope) !== c.writer);
    const parts: string[] = [];
    let isRuntimeApplied = false;
    if (this.runtime) {
      try {
        // A reconcile that got here reads the full live state (new worker, full check due, or a retry).
        const sent = await this.applyRuntime(snapshot.views, context, isReconcile);
        isRuntimeApplied = true;
        if (sent > 0) parts.push(`runtime API: ${sent} command${sent > 1 ? 's' : ''}`);
      } catch (err) {
        this.runtime.connected = false;
        this.runtime.lastError = describeError(err);
        this.ctx.log.warn(
          { err: this.runtime.lastError },
          'HAProxy runtime API failed; falling back to file and reload',
        );
      }
    }
    if (isRuntimeApplied && this.liveStructure === structure) {
      // Live state is right; the file only has to follow for the next start. Rendering and checking a
      // large file is proportional to the number of clusters, so it runs after this apply, coalesced.
      this.syncFileInBackground(context);
    } else {
      const didWrite = await this.writeFile(context);
      if (didWrite) parts.push('file written');
      if (this.liveStructure === null && !didWrite) this.liveStructure = structure; // HAProxy runs this file already
      const needsReload = this.liveStructure !== structure || (didWrite && !isRuntimeApplied);
      if (this.config.reload !== null && needsReload) {
        await this.reload();
        parts.push('reloaded');
        if (this.runtime) await this.applyRuntime(snapshot.views, context, true).catch(() => undefined);
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

  /** Renders and writes the file (validated, atomic). Serialised with background writes. */
  private async writeFile(context: HaproxyTemplateContext): Promise<boolean> {
    const previous = this.fileChain;
    let release!: () => void;
    this.fileChain = new Promise<void>((r) => (release = r));
    await previous;
    try {
      this.template ??= await loadTemplate(
        resolve(this.ctx.configDir, this.config.template ?? defaultTemplate('haproxy.cfg.hbs')),
      );
      const file = await renderFile({
        path: this.output,
        contents: this.template(context),
        check: this.config.check ?? undefined,
        checkTimeoutMs: this.config.command_timeout_ms,
      });
      this.fileError = null;
      return file.didRender;
    } catch (err) {
      this.fileError = describeError(err);
      throw err;
    } finally {
      release();
    }
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
          await this.writeFile(next);
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

  private fileChain: Promise<void> = Promise.resolve();
  private pendingFile: HaproxyTemplateContext | null = null;
  private fileError: string | null = null;

  /** Makes live server states match the views; returns how many commands were sent. */
  private async applyRuntime(
    views: ReadonlyMap<string, RouteView>,
    context: HaproxyTemplateContext,
    isFull: boolean,
  ): Promise<number> {
    const runtime = this.runtime as RuntimeStatus;
    const timeout = this.runtimeTimeoutMs();
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
    const live = parseServersState(await this.runtimeQuery(query));
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
    if (plan.missing.length > 0 && this.liveStructure !== null) {
      // The live HAProxy lacks servers the file has (restarted with an older file, or reload pending).
      this.liveStructure = null;
    }
    await runBatch(runtime.socket, plan.fence, timeout);
    await runBatch(runtime.socket, plan.route, timeout);
    const sent = plan.fence.length + plan.route.length;
    if (isFull) this.lastFullCheckAt = Date.now();
    if (isFull && sent > 0 && runtime.connected) runtime.fullReapplies += 1;
    runtime.connected = true;
    runtime.lastError = null;
    runtime.lastCommands = sent;
    for (const c of changed) this.appliedViewGenerations.set(c.scope, views.get(c.scope)?.generation ?? 0);
    if (sent > 0 && this.config.state_file) await this.saveServerState();
    return sent;
  }

  private readonly appliedViewGenerations = new Map<string, number>();
  private readonly contextCache: ContextCache = new Map();
  /** Every member seen per cluster (latest address), so an expired member key does not force a reload. */
  private readonly retained = new Map<string, RouteServer[]>();

  /** Views whose members are already in `retained` (by identity: views are replaced, never changed). */
  private readonly retainedFrom = new Map<string, RouteView>();

  private retainMembers(views: ReadonlyMap<string, RouteView>): void {
    for (const scope of Object.keys(this.config.frontends)) {
      const view = views.get(scope);
      if (!view || this.retainedFrom.get(scope) === view) continue;
      this.retainedFrom.set(scope, view);
      const before = this.retained.get(scope) ?? [];
      const byName = new Map(before.map((m) => [m.name, m]));
      for (const m of view.members) byName.set(m.name, m);
      const after = [...byName.values()];
      // A new list only when a member was added or moved, so the context cache keeps this cluster.
      if (after.length !== before.length || after.some((m, i) => m !== before[i]))
        this.retained.set(scope, after);
    }
  }
  private liveWorkerPid: string | null = null;
  private lastFullCheckAt = 0;
  /** The last apply went through the runtime API completely: a reconcile may stop at `show info`. */
  private isSettled = false;

  /** True when the HAProxy worker is not the one last reconciled, or a full check is due. */
  private async isFullCheckDue(): Promise<boolean> {
    const info = await this.runtimeQuery('show info');
    const pid = /^Pid: (\d+)$/m.exec(info)?.[1] ?? null;
    const isNewWorker = pid !== this.liveWorkerPid;
    if (isNewWorker && this.liveWorkerPid !== null) {
      this.ctx.log.info({ pid }, 'HAProxy worker changed (restart or reload): re-applying the full state');
    }
    this.liveWorkerPid = pid;
    return isNewWorker || Date.now() - this.lastFullCheckAt >= FULL_CHECK_MS;
  }

  /** One socket command's bound: the configured command timeout, at most 2 s (the socket is local). */
  private runtimeTimeoutMs(): number {
    return Math.min(2000, this.config.command_timeout_ms);
  }

  private runtimeQuery(command: string): Promise<string> {
    return runtimeCommand((this.runtime as RuntimeStatus).socket, command, this.runtimeTimeoutMs());
  }

  private async saveServerState(): Promise<void> {
    const state = await this.runtimeQuery('show servers state');
    await renderFile({
      path: resolve(this.ctx.configDir, this.config.state_file as string),
      contents: state,
      isBackupKept: false,
    });
  }

  /** Runs the reload command with retries; after the last failure restores the previous file. */
  private async reload(): Promise<void> {
    const command = this.config.reload as string;
    if (this.runtime && this.config.state_file) await this.saveServerState().catch(() => undefined);
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.config.reload_attempts; attempt++) {
      try {
        await runCommand(command, { timeoutMs: this.config.command_timeout_ms, purpose: 'reload' });
        this.reloads += 1;
        return;
      } catch (err) {
        lastError = err;
        this.ctx.log.warn({ attempt, err: describeError(err) }, 'HAProxy reload failed');
        if (attempt < this.config.reload_attempts)
          await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
      }
    }
    const restored = await restoreBackup(this.output).catch(() => false);
    if (restored) {
      this.rollbacks += 1;
      await runCommand(command, { timeoutMs: this.config.command_timeout_ms, purpose: 'reload' }).catch(
        () => undefined,
      );
    }
    throw new SwitchyardError(
      'SY_ERR_RELOAD_FAILED',
      `HAProxy reload failed ${this.config.reload_attempts} times (${describeError(lastError)}); ${restored ? `restored the previous ${this.output}` : 'no previous file to restore'}`,
      { cause: lastError },
    );
  }

  status(): Record<string, unknown> {
    return {
      output: this.output,
      file_error: this.fileError,
      reloads: this.reloads,
      rollbacks: this.rollbacks,
      ...(this.runtime ? { runtime_api: { ...this.runtime } } : {}),
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
