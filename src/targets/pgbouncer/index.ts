import { readBackUntilApplied, renderFile, runCommand } from '../../render/index.js';
import { SwitchyardError, describeError } from '../../errors.js';
import { serial } from '../../util/serial.js';
import { defineTarget } from '../registry.js';
import type { ApplyResult, PreviewFile, RouteSnapshot, Target, TargetContext } from '../types.js';
import { AdminError } from '../admin-console.js';
import { PgBouncerConfigSchema } from './config.js';
import { PgBouncerControl, notApplied, type LiveDatabase, type PgBouncerAdmin } from './control.js';
import { resolvePgBouncerOptions, type PgBouncerOptions } from './options.js';
import { Pauses, type HeldPause } from './pauses.js';
import { renderPgBouncerIni, type EntryInfo, type RenderedIni } from './render.js';
import { clustersToFence, isApplied, routesToRender, wantedWriters, type Wants } from './routes.js';
import { riskySettings } from './warnings.js';

const CONFIG_CHECK_INTERVAL_MS = 60_000;
/** At start, how long the first snapshot may take before paused databases are resumed without one. */
const START_SWEEP_MS = 2000;
/** While a live switchover holds databases, the latest snapshot is applied again this often. */
const YIELD_RECHECK_MS = 200;

/**
 * PgBouncer follows the leader (targets.md §3): on leader loss the cluster's write databases are PAUSEd
 * at once (clients queue instead of failing; a stalled PAUSE becomes KILL); once a writable leader is
 * known the routing file is rewritten, RELOADed, verified with SHOW DATABASES (1.18 answers RELOAD with
 * success even when loading failed) and the databases are RESUMEd. A pause is never held longer than
 * `timeouts.max_pause_ms`, a started target resumes what a dead router left paused (even before its
 * first etcd read), `close()` resumes what this one paused, and the routing file is written even while
 * the admin console is down (PgBouncer cannot start without its `%include` file).
 */
export class PgBouncerTarget implements Target {
  readonly kind = 'pgbouncer';
  readonly name: string;
  readonly reconcileIntervalMs = 1000;
  readonly control: PgBouncerAdmin;
  private readonly pauses: Pauses;
  private isFresh = true;
  private isClosed = false;
  /** Admin commands of apply, the timers and close never interleave. */
  private readonly oneAtATime = serial();
  private expiryTimer: NodeJS.Timeout | null = null;
  private startTimer: NodeJS.Timeout | null = null;
  private yieldTimer: NodeJS.Timeout | null = null;
  /** The newest snapshot handed to `apply` (what a re-check applies again). */
  private latest: RouteSnapshot | null = null;
  private warnings: string[] = [];
  private configCheckedAt = -Infinity;
  private lastSummary: string | null = null;
  /** Clusters whose lost leader was already reported in a sentence. */
  private readonly reportedLost = new Set<string>();

  constructor(
    private readonly options: PgBouncerOptions,
    private readonly ctx: TargetContext,
    control?: PgBouncerAdmin,
  ) {
    this.name = 'pgbouncer';
    this.control = control ?? new PgBouncerControl(options.admin);
    this.pauses = new Pauses(options.config, options.output, this.control, ctx.now, ctx.log);
  }

  /**
   * Writable leaders, minus those the router's leader health reports lost (`RouteLeader.isLost`: the held
   * session ended or the port refused): fenced at once, so clients wait instead of failing.
   */
  private effectiveWants(snapshot: RouteSnapshot, parts: string[]): Wants {
    const wants = wantedWriters(this.options.config, snapshot.views);
    const out = new Map(wants);
    for (const [cluster, want] of wants) {
      if (want && snapshot.views.get(cluster)?.leader?.isLost) {
        out.set(cluster, null);
        if (!this.reportedLost.has(cluster))
          parts.push(
            `leader ${want.member ?? want.host} of ${cluster} stopped answering on ${want.host}:${want.port}`,
          );
        this.reportedLost.add(cluster);
      } else this.reportedLost.delete(cluster);
    }
    return out;
  }

  /**
   * Begins acting: if no snapshot was applied within START_SWEEP_MS (etcd unreachable at start), paused
   * databases not held by a live switchover are resumed anyway, and looked at again every second while
   * a switchover's marker holds some and still no snapshot was applied.
   */
  async start(): Promise<void> {
    this.scheduleStartSweep(START_SWEEP_MS);
  }

  private scheduleStartSweep(delayMs: number): void {
    this.startTimer = setTimeout(() => {
      if (this.isClosed || !this.isFresh) return;
      this.oneAtATime(async () => {
        if (this.isClosed || !this.isFresh) return [];
        const parts: string[] = [];
        const stillHeld = await this.pauses.resumeFoundAtStart(parts);
        if (parts.length > 0) this.ctx.log.info({ target: this.name }, parts.join('; '));
        return stillHeld;
      }).then(
        (stillHeld) => {
          if (stillHeld.length > 0) this.scheduleStartSweep(1000);
        },
        (err: unknown) => {
          this.ctx.log.warn(
            { target: this.name, err: describeError(err) },
            'cannot look for paused databases yet (admin console); retrying in 1 s',
          );
          this.scheduleStartSweep(1000);
        },
      );
    }, delayMs);
    this.startTimer.unref();
  }

  apply(snapshot: RouteSnapshot): Promise<ApplyResult> {
    this.latest = snapshot;
    return this.oneAtATime(() => this.applyNow(snapshot));
  }

  /**
   * Points the write entries at the snapshot's writers while their databases stay paused: write, RELOAD,
   * verify, and nothing else (no PAUSE, no RESUME, no expiry); when PgBouncer already routes them so
   * (SHOW DATABASES), nothing at all. `switchyard switchover` calls it with the new key holder before it is
   * writable, so that only RESUME is left once it is, and again as the check before that RESUME. Refuses
   * (throws) when a database it would repoint is not paused: clients must never reach a node that is not
   * writable yet.
   */
  routeWhilePaused(snapshot: RouteSnapshot): Promise<ApplyResult> {
    return this.oneAtATime(async () => {
      if (this.isClosed) throw new SwitchyardError('SY_ERR_TARGET_APPLY', 'pgbouncer target is closed');
      const live = await this.control.showDatabases();
      const wants = wantedWriters(this.options.config, snapshot.views);
      const rendered = this.render(wants, snapshot, live);
      const stale = rendered.entries.filter((e) => !isApplied(live.get(e.name), e));
      const running = stale.filter((e) => e.role === 'primary' && live.get(e.name)?.isPaused !== true);
      if (running.length > 0)
        throw new SwitchyardError(
          'SY_ERR_TARGET_APPLY',
          `will not repoint ${running.map((e) => e.name).join(', ')} ahead of the new primary: not paused`,
        );
      // Already routed (the usual case once the command pointed them ahead of time): this is the check before
      // RESUME, so it touches neither the file nor PgBouncer; clients wait for every millisecond spent here.
      if (stale.length === 0)
        return {
          generation: snapshot.generation,
          summary: `pgbouncer already routes ${this.describeRoutes(rendered.entries)} (generation ${snapshot.generation})`,
          didChange: false,
        };
      await renderFile({
        path: this.options.output,
        contents: rendered.text,
        ...this.fileMode(rendered),
        check: this.options.config.check,
      });
      await this.reloadAndVerify(rendered.entries);
      const moved = stale.map(
        (e) => `${e.name} to ${e.endpoint.member ?? e.endpoint.host}:${e.endpoint.port}`,
      );
      return {
        generation: snapshot.generation,
        summary: `repointed ${moved.join(', ')} while paused (RELOAD verified; generation ${snapshot.generation})`,
        didChange: true,
      };
    });
  }

  /** The routing file for a snapshot, without touching disk or PgBouncer (`switchyard render`). */
  async preview(snapshot: RouteSnapshot): Promise<PreviewFile[]> {
    const { config } = this.options;
    const wants = wantedWriters(config, snapshot.views);
    const rendered = this.render(wants, snapshot, new Map());
    return [{ path: this.options.output, contents: rendered.text, ...this.fileMode(rendered) }];
  }

  private render(
    wants: Wants,
    snapshot: RouteSnapshot,
    live: ReadonlyMap<string, LiveDatabase>,
  ): RenderedIni {
    const { config } = this.options;
    const routes = routesToRender(config, wants, snapshot.views, live);
    return renderPgBouncerIni(config, this.options.template, routes, this.options.passwords);
  }

  private fileMode(rendered: RenderedIni): { mode: number; owner: PgBouncerOptions['owner'] } {
    const isSecret = rendered.hasSecrets || this.options.config.mode === 'full';
    return { mode: isSecret ? 0o600 : 0o644, owner: this.options.owner };
  }

  private async applyNow(snapshot: RouteSnapshot): Promise<ApplyResult> {
    if (this.isClosed) throw new SwitchyardError('SY_ERR_TARGET_APPLY', 'pgbouncer target is closed');
    const { config } = this.options;
    const parts: string[] = [];
    let live: Map<string, LiveDatabase>;
    try {
      live = await this.control.showDatabases();
    } catch (err) {
      if (!isConsoleDown(err)) throw err;
      return this.writeWhileConsoleDown(snapshot, err);
    }
    const wants = this.effectiveWants(snapshot, parts);
    // A live switchover (another process) owns its databases, and the routing file while it runs.
    const yielded = await this.pauses.yieldedToSwitchover();
    const routed = new Map(wants);
    for (const cluster of yielded) routed.set(cluster, null);

    for (const [cluster, want] of wants) if (want) this.pauses.gaveUp.delete(cluster);
    for (const cluster of clustersToFence(config, routed, live)) {
      if (!this.pauses.gaveUp.has(cluster) && !yielded.has(cluster))
        await this.pauses.fence(cluster, live, parts);
    }

    const rendered = this.render(routed, snapshot, live);
    const stale = rendered.entries.filter((e) => !isApplied(live.get(e.name), e));
    if (yielded.size > 0) {
      // Neither written nor reloaded while the switchover runs: the command writes this file and RELOADs
      // between two of our reads, and a write of ours from the live entries we read before its RELOAD
      // would put its old leader back (seen in the bench: 1 of 24 switchovers, caught by the command's
      // check only because it came before its RESUME). Other clusters' moves wait for its end (the
      // re-check below), their clients paused, not failing.
      if (stale.length > 0)
        this.ctx.log.debug(
          { target: this.name, yielded: [...yielded], waiting: stale.map((e) => e.name) },
          'routing file left to the running switchover',
        );
    } else {
      const result = await renderFile({
        path: this.options.output,
        contents: rendered.text,
        ...this.fileMode(rendered),
        check: config.check,
      });
      if (result.didRender || stale.length > 0) {
        live = await this.reloadAndVerify(rendered.entries);
        for (const e of stale.filter((s) => s.role === 'primary')) {
          parts.push(
            `repointed ${e.name} to ${e.endpoint.member ?? e.endpoint.host}:${e.endpoint.port} (RELOAD verified)`,
          );
        }
        if (stale.some((s) => s.role === 'replica')) parts.push(`moved read-only entries (RELOAD verified)`);
        if (stale.length === 0) parts.push(`rewrote ${this.options.output} (RELOAD verified)`);
      }
    }

    await this.pauses.resumeReady(wants, live, this.isFresh, parts);
    await this.pauses.expire(wants, parts);
    await this.checkSettings(snapshot);
    this.isFresh = false;
    this.scheduleExpiry();
    this.scheduleYieldRecheck(yielded.size > 0);

    const didChange = parts.length > 0;
    const summary = didChange
      ? `${parts.join('; ')} (generation ${snapshot.generation})`
      : `pgbouncer already routes ${this.describeRoutes(rendered.entries)} (generation ${snapshot.generation})`;
    this.lastSummary = summary;
    if (didChange) this.ctx.log.info({ target: this.name, generation: snapshot.generation }, summary);
    return { generation: snapshot.generation, summary, didChange };
  }

  /**
   * The admin console does not answer (PgBouncer not started yet, or down): the routing file is still
   * written, so PgBouncer can start on it (`%include` of a missing file is fatal), then the apply fails
   * so the router retries: RELOAD and SHOW DATABASES verify it once the console answers.
   */
  private async writeWhileConsoleDown(snapshot: RouteSnapshot, err: unknown): Promise<never> {
    const wants = wantedWriters(this.options.config, snapshot.views);
    const rendered = this.render(wants, snapshot, new Map());
    const result = await renderFile({
      path: this.options.output,
      contents: rendered.text,
      ...this.fileMode(rendered),
      check: this.options.config.check,
    });
    throw new SwitchyardError(
      'SY_ERR_ADMIN_CONSOLE',
      `${result.didRender ? 'wrote' : 'kept'} ${this.options.output} (routes ${this.describeRoutes(rendered.entries)}), but PgBouncer's admin console does not answer (${describeError(err)}); RELOAD and verify once it does`,
      { cause: err },
    );
  }

  private async reloadAndVerify(entries: readonly EntryInfo[]): Promise<Map<string, LiveDatabase>> {
    const timeoutMs = this.options.config.timeouts.command_ms;
    if (this.options.reloadCommand) {
      await runCommand(this.options.reloadCommand, { timeoutMs, purpose: 'reload' });
    } else {
      await this.control.reload();
    }
    // RELOAD on the console is synchronous; a reload command (SIGHUP) is not: poll, bounded.
    return readBackUntilApplied<Map<string, LiveDatabase>>({
      timeoutMs: this.options.reloadCommand ? timeoutMs : 0,
      pollMs: 50,
      isReadErrorRetried: false,
      read: async () => {
        const live = await this.control.showDatabases();
        const wrong = entries.find((e) => !isApplied(live.get(e.name), e));
        return wrong ? { problem: notApplied(this.options.output, wrong, live) } : { value: live };
      },
    });
  }

  /**
   * While a live switchover holds databases, nothing in etcd need change when it ends, or dies: the
   * newest snapshot is applied again every YIELD_RECHECK_MS, so that its databases are resumed once it
   * has routed them to a writable leader, and routed, fenced or resumed like any other once its marker
   * is gone or stale.
   */
  private scheduleYieldRecheck(isYielding: boolean): void {
    if (this.yieldTimer) clearTimeout(this.yieldTimer);
    this.yieldTimer = null;
    if (!isYielding || this.isClosed) return;
    this.yieldTimer = setTimeout(() => {
      this.oneAtATime(async () => {
        if (!this.isClosed && this.latest) await this.applyNow(this.latest);
      }).catch((err: unknown) => {
        this.ctx.log.warn(
          { target: this.name, err: describeError(err) },
          're-check during a switchover failed',
        );
        this.scheduleYieldRecheck(true);
      });
    }, YIELD_RECHECK_MS);
    this.yieldTimer.unref();
  }

  private scheduleExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    const expiry = this.pauses.nextExpiry();
    if (expiry === null || this.isClosed) return;
    const delay = Math.max(0, expiry - this.ctx.now()) + 10;
    this.expiryTimer = setTimeout(() => {
      this.oneAtATime(async () => {
        if (this.isClosed) return;
        await this.pauses.expire(null, []);
        this.scheduleExpiry();
      }).catch((err: unknown) => {
        this.ctx.log.error(
          { target: this.name, err: describeError(err) },
          'could not resume an expired pause; retrying in 1 s',
        );
        this.expiryTimer = setTimeout(() => this.scheduleExpiry(), 1000);
        this.expiryTimer.unref();
      });
    }, delay);
    this.expiryTimer.unref();
  }

  private async checkSettings(snapshot: RouteSnapshot): Promise<void> {
    const now = this.ctx.now();
    if (now - this.configCheckedAt < CONFIG_CHECK_INTERVAL_MS) return;
    this.configCheckedAt = now;
    const ttls = [...snapshot.views.values()].map((v) => v.ttl);
    try {
      const live = await this.control.showConfig();
      this.warnings = riskySettings(live, {
        ttlSeconds: ttls.length > 0 ? Math.max(...ttls) : null,
        maxPauseMs: this.options.config.timeouts.max_pause_ms,
      });
      for (const w of this.warnings) this.ctx.log.warn({ target: this.name }, w);
    } catch (err) {
      this.warnings = [`could not read SHOW CONFIG: ${describeError(err)}`];
    }
  }

  private describeRoutes(entries: readonly EntryInfo[]): string {
    const primaries = entries.filter((e) => e.role === 'primary');
    if (primaries.length === 0) return 'nothing';
    return primaries.map((e) => `${e.name} to ${e.endpoint.host}:${e.endpoint.port}`).join(', ');
  }

  /** Databases this target holds paused (for /status and the switchover command). */
  get heldPauses(): ReadonlyMap<string, HeldPause> {
    return this.pauses.held;
  }

  status(): Record<string, unknown> {
    return {
      mode: this.options.config.mode,
      output: this.options.output,
      paused: [...this.pauses.held].map(([db, h]) => ({
        database: db,
        cluster: h.cluster,
        sinceMs: this.ctx.now() - h.since,
      })),
      pausedByOthers: [...this.pauses.foreign.keys()],
      warnings: this.warnings,
      lastSummary: this.lastSummary,
    };
  }

  /** Resumes what this target paused (never leave PgBouncer paused), then closes the admin connection. */
  close(): Promise<void> {
    return this.oneAtATime(async () => {
      if (this.isClosed) return;
      this.isClosed = true;
      if (this.expiryTimer) clearTimeout(this.expiryTimer);
      if (this.startTimer) clearTimeout(this.startTimer);
      if (this.yieldTimer) clearTimeout(this.yieldTimer);
      await this.pauses.releaseAll();
      await this.control.close();
    });
  }
}

/** The console cannot be reached at all (refused, no socket, connect timeout): PgBouncer is not running. */
function isConsoleDown(err: unknown): boolean {
  return err instanceof AdminError && err.command === 'connect';
}

export const pgbouncerTarget = defineTarget({
  key: 'pgbouncer',
  schema: PgBouncerConfigSchema,
  create(config, ctx) {
    return new PgBouncerTarget(resolvePgBouncerOptions(config, ctx.configDir), ctx);
  },
});
