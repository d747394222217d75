import { resolve } from 'node:path';
import { resolveOwner } from '../../config/owner.js';
import { resolveTargetSecret } from '../../render/command.js';
import { ConfigError } from '../../errors.js';
import type { AdminEndpoint } from '../admin-console.js';
import { hasControlChars, type PgBouncerConfig } from './config.js';
import { defaultTemplate } from '../../paths.js';
import { loadTemplateSync, type LoadedTemplate } from '../../render/template.js';

/** A PgBouncer target's config with paths resolved, template compiled and secrets read. */
export interface PgBouncerOptions {
  readonly config: PgBouncerConfig;
  readonly output: string;
  readonly template: LoadedTemplate;
  readonly admin: AdminEndpoint;
  /** Database name → password of its forced user. Never logged. */
  readonly passwords: ReadonlyMap<string, string>;
  readonly owner: { uid: number; gid: number } | null;
  readonly reloadCommand: string | null;
}

export function resolvePgBouncerOptions(config: PgBouncerConfig, configDir: string): PgBouncerOptions {
  const where = 'targets.pgbouncer';
  const templatePath = config.template
    ? resolve(configDir, config.template)
    : defaultTemplate(config.mode === 'full' ? 'pgbouncer.ini.hbs' : 'pgbouncer-databases.ini.hbs');
  const passwords = new Map<string, string>();
  for (const [name, db] of Object.entries(config.databases)) {
    const password = resolveTargetSecret(db, `${where}.databases.${name}`, configDir);
    if (password !== undefined) {
      if (hasControlChars(password)) {
        throw new ConfigError(
          `${where}.databases.${name}: the password contains control characters or a newline`,
        );
      }
      if (!db.user) throw new ConfigError(`${where}.databases.${name}: a password needs a user`);
      passwords.set(name, password);
    }
  }
  return {
    config,
    output: resolve(configDir, config.output),
    template: loadTemplateSync(templatePath),
    admin: {
      host: config.admin.host,
      port: config.admin.port,
      user: config.admin.user,
      password: resolveTargetSecret(config.admin, `${where}.admin`, configDir),
      connectTimeoutMs: config.timeouts.connect_ms,
      commandTimeoutMs: config.timeouts.command_ms,
    },
    passwords,
    owner: config.owner ? resolveOwner(config.owner, 'targets.pgbouncer.owner') : null,
    reloadCommand: config.reload.method === 'command' ? (config.reload.command ?? null) : null,
  };
}
