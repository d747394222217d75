import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { stringify } from 'yaml';
import { Writable } from 'node:stream';
import {
  freePort,
  httpRequest,
  postgresUser,
  startPgbouncer,
  waitFor,
  type PgbouncerInstance,
  type ProcessGroup,
} from '../../harness/index.js';
import { PgBouncerTarget } from '../../../src/targets/pgbouncer/index.js';
import { PgBouncerConfigSchema } from '../../../src/targets/pgbouncer/config.js';
import { resolvePgBouncerOptions } from '../../../src/targets/pgbouncer/options.js';

/** A real PgBouncer 1.18 whose pgbouncer.ini `%include`s the routing file a target writes. */
export interface PgBouncerBed {
  dir: string;
  routesPath: string;
  /** The running PgBouncer (throws before `start()` when the bed was prepared with `isStarted: false`). */
  readonly bouncer: PgbouncerInstance;
  /** Starts PgBouncer on the prepared pgbouncer.ini (beds prepared with `isStarted: false`). */
  start(): Promise<PgbouncerInstance>;
  /** A target on this PgBouncer; `config` is merged into the defaults (databases: app → cluster demo). */
  target(config?: Record<string, unknown>): PgBouncerTarget;
  stop(): Promise<void>;
}

export async function startPgBouncerBed(
  initialRoutes: string | null,
  settings: Record<string, string | number> = {},
  options: { isStarted?: boolean } = {},
): Promise<PgBouncerBed> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-harness-pgb-bed-'));
  const { uid, gid } = postgresUser();
  chmodSync(dir, 0o755);
  chownSync(dir, uid, gid);
  const routesPath = join(dir, 'routes.ini');
  // null: no routing file yet (PgBouncer refuses to start on a missing `%include`).
  if (initialRoutes !== null) writeFileSync(routesPath, initialRoutes, { mode: 0o644 });
  writeFileSync(join(dir, 'userlist.txt'), '"postgres" ""\n"pgbouncer_admin" ""\n', { mode: 0o644 });
  const port = await freePort();
  const ini = {
    listen_addr: '127.0.0.1',
    listen_port: port,
    unix_socket_dir: dir,
    auth_type: 'trust',
    auth_file: join(dir, 'userlist.txt'),
    admin_users: 'pgbouncer_admin',
    pool_mode: 'transaction',
    default_pool_size: 10,
    max_client_conn: 200,
    server_login_retry: 1,
    query_wait_timeout: 60,
    ignore_startup_parameters: 'extra_float_digits,options',
    ...settings,
  };
  const text = [
    '[pgbouncer]',
    ...Object.entries(ini).map(([k, v]) => `${k} = ${v}`),
    `%include ${routesPath}`,
    '',
  ].join('\n');
  const iniPath = join(dir, 'pgbouncer.ini');
  writeFileSync(iniPath, text, { mode: 0o644 });
  let bouncer: PgbouncerInstance | null = null;
  const start = async (): Promise<PgbouncerInstance> => {
    bouncer = await startPgbouncer({ iniPath });
    return bouncer;
  };
  if (options.isStarted !== false) {
    try {
      await start();
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }
  const targets: PgBouncerTarget[] = [];
  return {
    dir,
    routesPath,
    get bouncer(): PgbouncerInstance {
      if (!bouncer) throw new Error('PgBouncer of this bed is not started');
      return bouncer;
    },
    start,
    target(config = {}) {
      const parsed = PgBouncerConfigSchema.parse({
        output: routesPath,
        databases: { app: { cluster: 'demo' } },
        admin: { host: '127.0.0.1', port, user: 'pgbouncer_admin' },
        timeouts: { pause_ms: 2000, max_pause_ms: 20_000 },
        liveness: { enabled: false },
        ...config,
      });
      const t = new PgBouncerTarget(resolvePgBouncerOptions(parsed, dir), {
        log: pino({ level: 'silent' }),
        now: Date.now,
      });
      targets.push(t);
      return t;
    },
    async stop() {
      for (const t of targets) await t.control.close().catch(() => undefined);
      await bouncer?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Writes `router.yml` in the bed's folder for a router with one PgBouncer target on this bed (database
 * `app` of cluster `demo`, `app` holding its extra settings) and returns its path.
 */
export function writeBedRouterConfig(
  bed: PgBouncerBed,
  opts: {
    etcdEndpoints: string[];
    apiPort: number;
    app?: Record<string, unknown>;
    routing?: Record<string, unknown>;
  },
): string {
  const path = join(bed.dir, 'router.yml');
  const config = {
    dcs: { type: 'etcd3', hosts: opts.etcdEndpoints },
    clusters: ['demo'],
    ...(opts.routing ? { routing: opts.routing } : {}),
    api: { listen: `127.0.0.1:${opts.apiPort}` },
    targets: {
      pgbouncer: {
        output: bed.routesPath,
        databases: { app: { cluster: 'demo', dbname: 'postgres', ...opts.app } },
        admin: { host: '127.0.0.1', port: bed.bouncer.port, user: 'pgbouncer_admin' },
        timeouts: { pause_ms: 3000, max_pause_ms: 45000 },
      },
    },
  };
  writeFileSync(path, stringify(config));
  return path;
}

/** Starts `switchyard route --config <configPath>` in `group` and waits until its `/status` answers. */
export async function startBedRouter(
  group: ProcessGroup,
  configPath: string,
  apiPort: number,
): Promise<ReturnType<ProcessGroup['spawn']>> {
  const proc = group.spawn({
    name: 'router',
    command: process.execPath,
    args: ['--import', 'tsx', 'src/cli/run.ts', 'route', '--config', configPath],
    cwd: process.cwd(),
  });
  await waitFor(
    async () => proc.isRunning() && (await httpRequest(`http://127.0.0.1:${apiPort}/status`)).status === 200,
    { what: 'router /status', timeoutMs: 20_000, diagnose: () => group.logTail('router', 30) },
  );
  return proc;
}

/** A stream that collects the lines written to it (a command's step output). */
export function lineCollector(): { lines: string[]; out: Writable } {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).trimEnd().split('\n'));
      done();
    },
  });
  return { lines, out };
}
