import { resolve } from 'node:path';
import { resolveTargetSecret } from '../../render/command.js';
import { ConfigError } from '../../errors.js';
import { readIfExists, renderFile } from '../../render/index.js';
import { defineTarget } from '../registry.js';
import type { ApplyResult, RouteSnapshot, Target, TargetContext } from '../types.js';
import type { AdminEndpoint } from '../admin-console.js';
import { resolveOwner } from '../../config/owner.js';
import { defaultTemplate } from '../../paths.js';
import { loadTemplateSync, type LoadedTemplate } from '../../render/template.js';
import { PgcatConfigSchema, type PgcatConfig } from './config.js';
import { reloadPgcat, verifyPgcat, type PgcatReload } from './reload.js';
import { planPools } from './plan.js';
import { primariesOf, renderPgcatToml, type PgcatSecrets } from './render.js';

export interface PgcatOptions {
  readonly config: PgcatConfig;
  readonly output: string;
  readonly template: LoadedTemplate;
  readonly secrets: PgcatSecrets;
  readonly console: AdminEndpoint;
  readonly reload: PgcatReload;
  readonly isVerified: boolean;
  readonly owner: { uid: number; gid: number } | null;
}

export function resolvePgcatOptions(config: PgcatConfig, configDir: string): PgcatOptions {
  const adminPassword = resolveTargetSecret(config.general.admin, 'targets.pgcat.general.admin', configDir);
  if (adminPassword === undefined)
    throw new ConfigError('targets.pgcat.general.admin: pgcat requires an admin password');
  const users = new Map(
    Object.entries(config.pools).map(([name, pool]) => [
      name,
      pool.users.map((u, i) => resolveTargetSecret(u, `targets.pgcat.pools.${name}.users.${i}`, configDir)),
    ]),
  );
  const r = config.reload;
  const reload: PgcatReload =
    r.method === 'signal'
      ? { method: 'signal', pid: r.pid, pidfile: r.pidfile ? resolve(configDir, r.pidfile) : undefined }
      : r.method === 'command'
        ? { method: 'command', command: r.command as string }
        : { method: 'admin' };
  return {
    config,
    output: resolve(configDir, config.output),
    template: loadTemplateSync(
      config.template ? resolve(configDir, config.template) : defaultTemplate('pgcat.toml.hbs'),
    ),
    secrets: { adminPassword, users },
    console: {
      label: 'pgcat',
      host: config.console?.host ?? '127.0.0.1',
      port: config.console?.port ?? config.general.port,
      user: config.general.admin.username,
      password: adminPassword,
      connectTimeoutMs: config.timeouts.connect_ms,
      commandTimeoutMs: config.timeouts.command_ms,
    },
    reload,
    isVerified: config.verify ?? (r.method === 'admin' || config.console !== undefined),
    owner: config.owner ? resolveOwner(config.owner, 'targets.pgcat.owner') : null,
  };
}

/**
 * pgcat follows the leader by rewriting pgcat.toml (exactly one `"primary"`, the writable leader; eligible
 * replicas as `"replica"` when enabled) and reloading it (admin RELOAD, SIGHUP or a command), then checking
 * `SHOW DATABASES` when the admin console is reachable. No PAUSE: pgcat's PAUSE does not drain and its
 * RESUME misses pools a reload replaced (targets.md §2.5). While a cluster has no writable leader its pools
 * keep the primary they have.
 */
export class PgcatTarget implements Target {
  readonly kind = 'pgcat';
  readonly name = 'pgcat';
  /**
   * The pgcat.toml text pgcat confirmed running: reloaded (and read back when verified). Null at start:
   * the file may be newer than what pgcat runs (a crash between swap and reload), so the first pass reloads.
   * Any other text on disk is a pending swap: retried every pass until a reload is confirmed.
   */
  private confirmed: string | null = null;
  private isPending = false;
  private lastSummary: string | null = null;

  constructor(
    private readonly options: PgcatOptions,
    private readonly ctx: TargetContext,
  ) {}

  async start(): Promise<void> {}

  async apply(snapshot: RouteSnapshot): Promise<ApplyResult> {
    const { config } = this.options;
    const kept = primariesOf(await readIfExists(this.options.output));
    const { servers, primaries, waiting } = planPools(config.pools, snapshot.views, kept);
    if (waiting.length > 0) {
      const summary = `waiting for a writable leader for ${waiting.join(', ')}; pgcat.toml untouched (generation ${snapshot.generation})`;
      this.lastSummary = summary;
      return { generation: snapshot.generation, summary, didChange: false };
    }
    const text = renderPgcatToml(config, this.options.template, servers, this.options.secrets);
    this.isPending = text !== this.confirmed;
    const result = await renderFile({
      path: this.options.output,
      contents: text,
      mode: 0o600,
      owner: this.options.owner,
      check: config.check,
    });
    const routes = [...primaries].map(([pool, p]) => `${pool} to ${p.member ?? p.host}:${p.port}`).join(', ');
    if (!result.didRender && text === this.confirmed) {
      const summary = `pgcat already routes ${routes} (generation ${snapshot.generation})`;
      this.lastSummary = summary;
      return { generation: snapshot.generation, summary, didChange: false };
    }
    this.isPending = true; // the file on disk differs from what pgcat was last confirmed to run
    const how = await reloadPgcat(this.options.reload, this.options.console, config.timeouts.command_ms);
    if (this.options.isVerified)
      await verifyPgcat(this.options.console, primaries, config.timeouts.command_ms);
    this.confirmed = text;
    this.isPending = false;
    const summary = `routed ${routes} in pgcat.toml (${how}${this.options.isVerified ? ' verified' : ', not verified'}) (generation ${snapshot.generation})`;
    this.lastSummary = summary;
    this.ctx.log.info({ target: this.name, generation: snapshot.generation }, summary);
    return { generation: snapshot.generation, summary, didChange: true };
  }

  status(): Record<string, unknown> {
    return {
      output: this.options.output,
      reload: this.options.reload.method,
      isVerified: this.options.isVerified,
      /** A swapped file whose reload is not confirmed yet (retried every pass). */
      pendingReload: this.isPending,
      warnings: this.options.isVerified
        ? []
        : ['reload is not verified: give targets.pgcat.console to check SHOW DATABASES'],
      lastSummary: this.lastSummary,
    };
  }

  async close(): Promise<void> {
    // Nothing held: connections are opened per reload.
  }
}

export const pgcatTarget = defineTarget({
  key: 'pgcat',
  schema: PgcatConfigSchema,
  create(config, ctx) {
    return new PgcatTarget(resolvePgcatOptions(config, ctx.configDir), ctx);
  },
});
