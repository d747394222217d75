import { renderFile, runCommand } from '../render/index.js';
import { SwitchyardError, describeError } from '../errors.js';
import { defineTarget } from './registry.js';
import type { ApplyResult, RouteSnapshot, Target, TargetContext } from './types.js';
import { PgBouncerConfigSchema } from './pgbouncer/config.js';
import { PgBouncerControl, type LiveDatabase, type PgBouncerAdmin } from './pgbouncer/control.js';
import { LeaderLiveness, holdPostgres, type Hold, type ProbeResult } from './pgbouncer/liveness.js';
import { isMarkerLive, readMarker } from './pgbouncer/marker.js';
import { resolvePgBouncerOptions, type PgBouncerOptions } from './pgbouncer/options.js';
import { renderPgBouncerIni, type Endpoint, type EntryInfo } from './pgbouncer/render.js';
import {
  clustersToFence,
  isApplied,
  routesToRender,
  wantedWriters,
  writeDatabases,
  type Wants,
} from './pgbouncer/routes.js';
import { riskySettings } from './pgbouncer/warnings.js';

const CONFIG_CHECK_INTERVAL_MS = 60_000;

interface HeldPause {
  readonly cluster: string;
  readonly since: number;
}

/**
 * PgBouncer follows the leader (targets.md §3): on leader loss the cluster's write databases are PAUSEd
 * at once (clients queue instead of failing; a stalled PAUSE becomes KILL); once a writable leader is
 * known the routing file is rewritten, RELOADed, verified with SHOW DATABASES (1.18 answers RELOAD with
 * success even when loading failed) and the databases are RESUMEd. A pause is never held longer than
 * `timeouts.max_pause_ms`, a fresh target resumes what a dead router left paused, and `close()` resumes
 * what this one paused.
 */
export class PgBouncerTarget implements Target {
  readonly kind = 'pgbouncer';
  readonly name: string;
  readonly reconcileIntervalMs = 1000;
  readonly control: PgBouncerAdmin;
  private readonly held = new Map<string, HeldPause>();
  /** Paused databases this target did not pause, with when it first saw them. */
  private readonly foreign = new Map<string, number>();
  /** Clusters whose pause expired without a writable leader: not fenced again until one appears. */
  private readonly gaveUp = new Set<string>();
  private isFresh = true;
  private isClosed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private expiryTimer: NodeJS.Timeout | null = null;
  private warnings: string[] = [];
  private configCheckedAt = -Infinity;
  private lastSummary: string | null = null;
  private lastSnapshot: RouteSnapshot | null = null;
  private readonly liveness: LeaderLiveness | null;
  /** Clusters whose lost leader was already reported in a sentence. */
  private readonly reportedLost = new Set<string>();

  constructor(
    private readonly options: PgBouncerOptions,
    private readonly ctx: TargetContext,
    control?: PgBouncerAdmin,
    probe?: (endpoint: Endpoint, timeoutMs: number) => Promise<ProbeResult>,
    hold: Hold | null = null,
  ) {
    this.name = 'pgbouncer';
    this.control = control ?? new PgBouncerControl(options.admin);
    const l = options.config.liveness;
    this.liveness = l.enabled
      ? new LeaderLiveness(
          { intervalMs: l.interval_ms, timeoutMs: l.timeout_ms, failures: l.failures },
          () => this.reapply(),
          (cluster, endpoint, message) =>
            this.ctx.log.warn(
              { target: this.name, cluster },
              `liveness.hold cannot log in to ${endpoint.host}:${endpoint.port} (${message}); a dead primary is found by the probe only`,
            ),
          probe,
          hold,
        )
      : null;
  }

  /** A leader was lost or came back between snapshots: apply the last snapshot again at once. */
  private reapply(): void {
    const snapshot = this.lastSnapshot;
    if (!snapshot || this.isClosed) return;
    this.exclusive(() => this.applyNow(snapshot)).catch((err: unknown) =>
      this.ctx.log.error(
        { target: this.name, err: describeError(err) },
        're-apply after a liveness change failed',
      ),
    );
  }

  /** Writable leaders, minus those whose PostgreSQL port is dead (treated as lost: fence). */
  private effectiveWants(snapshot: RouteSnapshot, parts: string[]): Wants {
    const wants = wantedWriters(this.options.config, snapshot.views);
    if (!this.liveness) return wants;
    this.liveness.watch(wants);
    const out = new Map(wants);
    for (const [cluster, want] of wants) {
      if (want && this.liveness.isLost(cluster, want)) {
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

  async start(): Promise<void> {}

  apply(snapshot: RouteSnapshot): Promise<ApplyResult> {
    return this.exclusive(() => this.applyNow(snapshot));
  }

  /** Admin commands of apply, the expiry timer and close never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(snapshot: RouteSnapshot): Promise<ApplyResult> {
    if (this.isClosed) throw new SwitchyardError('SY_ERR_TARGET_APPLY', 'pgbouncer target is closed');
    const { config } = this.options;
    const parts: string[] = [];
    this.lastSnapshot = snapshot;
    let live = await this.control.showDatabases();
    const wants = this.effectiveWants(snapshot, parts);

    for (const [cluster, want] of wants) if (want) this.gaveUp.delete(cluster);
    for (const cluster of clustersToFence(config, wants, live)) {
      if (!this.gaveUp.has(cluster)) await this.fence(cluster, live, parts);
    }

    const routes = routesToRender(config, wants, snapshot.views, live);
    const rendered = renderPgBouncerIni(config, this.options.template, routes, this.options.passwords);
    const result = await renderFile({
      path: this.options.output,
      contents: rendered.text,
      mode: rendered.hasSecrets || config.mode === 'full' ? 0o600 : 0o644,
      owner: this.options.owner,
      check: config.check,
    });
    const stale = rendered.entries.filter((e) => !isApplied(live.get(e.name), e));
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

    await this.resumeReady(wants, live, parts);
    await this.expire(wants, parts);
    await this.checkSettings(snapshot);
    this.isFresh = false;
    this.scheduleExpiry();

    const didChange = parts.length > 0;
    const summary = didChange
      ? `${parts.join('; ')} (generation ${snapshot.generation})`
      : `pgbouncer already routes ${this.describeRoutes(rendered.entries)} (generation ${snapshot.generation})`;
    this.lastSummary = summary;
    if (didChange) this.ctx.log.info({ target: this.name, generation: snapshot.generation }, summary);
    return { generation: snapshot.generation, summary, didChange };
  }

  /** PAUSE the cluster's write databases (KILL when PAUSE stalls); already paused ones are taken over. */
  private async fence(cluster: string, live: Map<string, LiveDatabase>, parts: string[]): Promise<void> {
    const now = this.ctx.now();
    const dbs = writeDatabases(this.options.config, cluster).filter((d) => live.has(d) && !this.held.has(d));
    const sentences = await Promise.all(
      dbs.map(async (db): Promise<string | null> => {
        const current = live.get(db) as LiveDatabase;
        if (current.isPaused) {
          this.held.set(db, { cluster, since: this.foreign.get(db) ?? now });
          this.foreign.delete(db);
          return null;
        }
        const outcome = await this.control.pause(db, this.options.config.timeouts.pause_ms);
        let sentence = `paused ${db} (${outcome.ms} ms)`;
        if (!outcome.isPaused) {
          await this.control.kill(db);
          sentence = `killed ${db} (PAUSE stalled after ${outcome.stalledAfterMs} ms)`;
        }
        this.held.set(db, { cluster, since: now });
        live.set(db, { ...current, isPaused: true });
        return sentence;
      }),
    );
    for (const s of sentences) if (s) parts.push(s);
  }

  private async reloadAndVerify(entries: readonly EntryInfo[]): Promise<Map<string, LiveDatabase>> {
    const timeoutMs = this.options.config.timeouts.command_ms;
    if (this.options.reloadCommand) {
      await runCommand(this.options.reloadCommand, { timeoutMs, purpose: 'reload' });
    } else {
      await this.control.reload();
    }
    // RELOAD on the console is synchronous; a reload command (SIGHUP) is not: poll, bounded.
    const deadline = Date.now() + (this.options.reloadCommand ? timeoutMs : 0);
    while (true) {
      const live = await this.control.showDatabases();
      const wrong = entries.filter((e) => !isApplied(live.get(e.name), e));
      if (wrong.length === 0) return live;
      if (Date.now() >= deadline) {
        const e = wrong[0] as EntryInfo;
        const got = live.get(e.name);
        const found = got
          ? `${got.host ?? '(socket)'}:${got.port ?? '?'}/${got.dbname ?? '?'}${got.forceUser ? ` user ${got.forceUser}` : ''}`
          : 'absent';
        throw new SwitchyardError(
          'SY_ERR_RELOAD_FAILED',
          `PgBouncer did not apply ${this.options.output}: ${e.name} is ${found}, expected ${e.endpoint.host}:${e.endpoint.port}/${e.dbname}${e.user ? ` user ${e.user}` : ''} ` +
            `(PgBouncer 1.18 answers RELOAD with success even when loading fails: look for "config file loading failed" in its log)`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** RESUME paused databases whose cluster is routed to a writable leader, and stale foreign pauses. */
  private async resumeReady(
    wants: Wants,
    live: ReadonlyMap<string, LiveDatabase>,
    parts: string[],
  ): Promise<void> {
    const now = this.ctx.now();
    const marker = await readMarker(this.options.output);
    const clusterOf = this.clusterOfDatabase();
    for (const [db, cluster] of clusterOf) {
      const isPaused = live.get(db)?.isPaused ?? false;
      const want = wants.get(cluster);
      const held = this.held.get(db);
      if (held) {
        if (!isPaused) this.held.delete(db);
        else if (want) {
          await this.control.resume(db);
          this.held.delete(db);
          parts.push(`resumed ${db} after ${now - held.since} ms`);
        }
        continue;
      }
      if (!isPaused) {
        this.foreign.delete(db);
        continue;
      }
      if (isMarkerLive(marker, db, now)) continue;
      const firstSeen = this.foreign.get(db) ?? now;
      this.foreign.set(db, firstSeen);
      const why = this.isFresh
        ? 'found paused at start'
        : marker?.databases.includes(db)
          ? 'its switchover is gone'
          : now - firstSeen >= this.options.config.timeouts.max_pause_ms
            ? `paused by someone else for ${now - firstSeen} ms`
            : null;
      if (why && want !== null) {
        await this.control.resume(db);
        this.foreign.delete(db);
        parts.push(`resumed ${db} (${why})`);
      }
    }
  }

  /** Our pauses never outlive max_pause_ms: without a writable leader by then, clients get the truth (errors). */
  private async expire(wants: Wants | null, parts: string[]): Promise<void> {
    const now = this.ctx.now();
    for (const [db, held] of [...this.held]) {
      if (now - held.since < this.options.config.timeouts.max_pause_ms) continue;
      if (wants && wants.get(held.cluster)) continue;
      await this.control.resume(db);
      this.held.delete(db);
      this.gaveUp.add(held.cluster);
      const sentence = `resumed ${db} after ${now - held.since} ms without a writable leader (timeouts.max_pause_ms)`;
      parts.push(sentence);
      this.ctx.log.warn({ target: this.name, database: db }, sentence);
    }
  }

  private scheduleExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    if (this.held.size === 0 || this.isClosed) return;
    const earliest = Math.min(...[...this.held.values()].map((h) => h.since));
    const delay = Math.max(0, earliest + this.options.config.timeouts.max_pause_ms - this.ctx.now()) + 10;
    this.expiryTimer = setTimeout(() => {
      this.exclusive(async () => {
        if (this.isClosed) return;
        await this.expire(null, []);
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

  private clusterOfDatabase(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [name, db] of Object.entries(this.options.config.databases)) {
      out.set(name, db.cluster);
      if (db.read_only) out.set(db.read_only.name, db.cluster);
    }
    return out;
  }

  private describeRoutes(entries: readonly EntryInfo[]): string {
    const primaries = entries.filter((e) => e.role === 'primary');
    if (primaries.length === 0) return 'nothing';
    return primaries.map((e) => `${e.name} to ${e.endpoint.host}:${e.endpoint.port}`).join(', ');
  }

  /** Databases this target holds paused (for /status and the switchover command). */
  get heldPauses(): ReadonlyMap<string, HeldPause> {
    return this.held;
  }

  status(): Record<string, unknown> {
    return {
      mode: this.options.config.mode,
      output: this.options.output,
      paused: [...this.held].map(([db, h]) => ({
        database: db,
        cluster: h.cluster,
        sinceMs: this.ctx.now() - h.since,
      })),
      pausedByOthers: [...this.foreign.keys()],
      warnings: [...this.warnings, ...(this.liveness?.holdProblems() ?? [])],
      lastSummary: this.lastSummary,
    };
  }

  /** Resumes what this target paused (never leave PgBouncer paused), then closes the admin connection. */
  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.isClosed) return;
      this.isClosed = true;
      this.liveness?.stop();
      if (this.expiryTimer) clearTimeout(this.expiryTimer);
      for (const db of [...this.held.keys()]) {
        try {
          await this.control.resume(db);
          this.ctx.log.info({ target: this.name, database: db }, `resumed ${db} on close`);
        } catch (err) {
          this.ctx.log.error(
            { target: this.name, database: db, err: describeError(err) },
            `could not resume ${db} on close`,
          );
        }
      }
      this.held.clear();
      await this.control.close();
    });
  }
}

export const pgbouncerTarget = defineTarget({
  key: 'pgbouncer',
  schema: PgBouncerConfigSchema,
  create(config, ctx) {
    const hold = config.liveness.hold ? holdPostgres(ctx.postgresLogin, config.timeouts.connect_ms) : null;
    return new PgBouncerTarget(
      resolvePgBouncerOptions(config, ctx.configDir),
      ctx,
      undefined,
      undefined,
      hold,
    );
  },
});
