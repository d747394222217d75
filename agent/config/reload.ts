import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { ConfigError, describeError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { tlsOptions, type ReloadAnswer } from '../api/server.js';
import { loadAgentConfig, type AgentConfig } from './load.js';

/** Settings a reload applies to the running agent (names as in patroni.yml). */
export interface ConfigChanges {
  /** Applied at once. */
  readonly live: readonly string[];
  /** Changed in the file, but only a restart of the agent applies them. */
  readonly needsRestart: readonly string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Which settings differ between the running configuration and a new one. Pure; never names values. */
export function diffConfig(current: AgentConfig, next: AgentConfig): ConfigChanges {
  const live: string[] = [];
  const needsRestart: string[] = [];
  const check = (name: string, a: unknown, b: unknown, isLive: boolean) => {
    if (!same(a, b)) (isLive ? live : needsRestart).push(name);
  };
  const [c, n] = [current, next];
  check('tags', c.tags, n.tags, true);
  check('restapi.authentication', c.restapi.auth, n.restapi.auth, true);
  check(
    'restapi.allow_unauthenticated_writes',
    c.restapi.allowUnauthenticatedWrites,
    n.restapi.allowUnauthenticatedWrites,
    true,
  );
  // Certificates of a running HTTPS server can be swapped; turning HTTPS on or off needs a new listener.
  const isTlsLive = (c.restapi.tls === null) === (n.restapi.tls === null);
  check('restapi TLS (certfile, keyfile, cafile, verify_client)', c.restapi.tls, n.restapi.tls, isTlsLive);
  check('postgresql.parameters', c.postgresql.parameters, n.postgresql.parameters, true);
  check('postgresql.pg_hba', c.postgresql.pgHba, n.postgresql.pgHba, true);
  for (const [name, a, b] of [
    ['scope', c.scope, n.scope],
    ['namespace', c.namespace, n.namespace],
    ['name', c.name, n.name],
    [
      'restapi.listen',
      [c.restapi.listenHost, c.restapi.listenPort],
      [n.restapi.listenHost, n.restapi.listenPort],
    ],
    ['restapi.connect_address', c.restapi.connectAddress, n.restapi.connectAddress],
    ['etcd3', c.etcd, n.etcd],
    [
      'postgresql.listen',
      [c.postgresql.listenAddresses, c.postgresql.port],
      [n.postgresql.listenAddresses, n.postgresql.port],
    ],
    [
      'postgresql.connect_address',
      [c.postgresql.connectHost, c.postgresql.connectPort],
      [n.postgresql.connectHost, n.postgresql.connectPort],
    ],
    ['postgresql.data_dir', c.postgresql.dataDir, n.postgresql.dataDir],
    ['postgresql.bin_dir', c.postgresql.binDir, n.postgresql.binDir],
    ['postgresql.pgpass', c.postgresql.pgpass, n.postgresql.pgpass],
    ['postgresql.database', c.postgresql.database, n.postgresql.database],
    [
      'postgresql.authentication',
      [c.postgresql.superuser, c.postgresql.replication, c.postgresql.rewind],
      [n.postgresql.superuser, n.postgresql.replication, n.postgresql.rewind],
    ],
  ] as const)
    check(name, a, b, false);
  return { live, needsRestart };
}

/** What a reload needs from the running agent. */
export interface ReloadTarget {
  /** The running configuration; a reload replaces its live parts in place (everyone holds this object). */
  readonly config: AgentConfig;
  readonly control: { rewriteConf(): Promise<boolean> };
  readonly log: Logger;
  readonly server: Server | HttpsServer | null;
  wake(): void;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * SIGHUP and `POST /reload`: re-reads the YAML and applies what can change live (tags, REST credentials
 * and certificates, PostgreSQL parameters and pg_hba, then a PostgreSQL reload). An invalid new file
 * changes nothing: the running configuration stays and the answer says why. One reload at a time.
 */
export class ConfigReloader {
  #running: Promise<ReloadAnswer> | null = null;

  constructor(private readonly target: ReloadTarget) {}

  reload(): Promise<ReloadAnswer> {
    this.#running ??= this.#reload().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #reload(): Promise<ReloadAnswer> {
    const { config, log } = this.target;
    let next: AgentConfig;
    try {
      next = (await loadAgentConfig(config.file)).config;
      if (next.restapi.tls && this.target.server && 'setSecureContext' in this.target.server)
        this.target.server.setSecureContext(tlsOptions(next.restapi.tls));
    } catch (err) {
      const problems =
        err instanceof ConfigError && err.problems.length ? `: ${err.problems.join('; ')}` : '';
      const message = `${config.file} not reloaded, kept the running configuration: ${describeError(err)}${problems}`;
      log.error(message);
      return { ok: false, message };
    }
    const changes = diffConfig(config, next);
    const m = config as Mutable<AgentConfig>;
    m.tags = next.tags;
    m.restapi = {
      ...config.restapi,
      auth: next.restapi.auth,
      allowUnauthenticatedWrites: next.restapi.allowUnauthenticatedWrites,
      tls: config.restapi.tls && next.restapi.tls ? next.restapi.tls : config.restapi.tls,
    };
    m.postgresql = {
      ...config.postgresql,
      parameters: next.postgresql.parameters,
      pgHba: next.postgresql.pgHba,
    };
    let pgNote = '';
    if (changes.live.some((c) => c.startsWith('postgresql.'))) {
      try {
        pgNote = (await this.target.control.rewriteConf())
          ? '; PostgreSQL reloaded'
          : '; PostgreSQL not running, applied at its next start';
      } catch (err) {
        pgNote = `; reloading PostgreSQL failed: ${describeError(err)}`;
      }
    }
    const message =
      (changes.live.length
        ? `reloaded ${config.file}: applied ${changes.live.join(', ')}`
        : `reloaded ${config.file}: nothing to apply`) +
      pgNote +
      (changes.needsRestart.length
        ? `; changed but applied only after an agent restart: ${changes.needsRestart.join(', ')}`
        : '');
    log.info({ applied: changes.live, needsRestart: changes.needsRestart }, message);
    this.target.wake();
    return { ok: true, message };
  }
}
