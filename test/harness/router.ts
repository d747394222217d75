import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ConstantBackoff, handleAll, noop, retry } from 'cockatiel';
import { Etcd3, type Lease } from 'etcd3';
import { stringify } from 'yaml';
import type { RouterStatus } from '../../src/router/router.js';
import { ProcessGroup, freePort, httpRequest, waitFor, type ManagedProcess } from './index.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** How a router child process is launched: by default from source through tsx, logging at debug. */
export interface RouterLaunch {
  /** The CLI entry point (default: `src/cli/run.ts` of this checkout). */
  entry?: string;
  /** Node flags before the entry (default: `--import tsx`). */
  nodeArgs?: string[];
  env?: Record<string, string>;
  /** How long to wait for /status to answer (default 20 s). */
  timeoutMs?: number;
}

/** Runs `switchyard route` in a child process (so it can be killed with -9); resolves once /status answers. */
export async function startRouterProcess(
  group: ProcessGroup,
  name: string,
  config: object,
  launch: RouterLaunch = {},
): Promise<{ proc: ManagedProcess; api: string; configPath: string }> {
  const port = await freePort();
  const api = `127.0.0.1:${port}`;
  const configPath = group.writeFile(`${name}.yml`, stringify({ ...config, api: { listen: api } }));
  const proc = await runRouter(group, name, configPath, api, launch);
  return { proc, api, configPath };
}

/**
 * Runs `switchyard route --config configPath` (a file the caller wrote, its API on `api`) in a child
 * process of `group`; resolves once /status answers.
 */
export async function runRouter(
  group: ProcessGroup,
  name: string,
  configPath: string,
  api: string,
  launch: RouterLaunch = {},
): Promise<ManagedProcess> {
  const proc = group.spawn({
    name,
    command: process.execPath,
    args: [
      ...(launch.nodeArgs ?? ['--import', 'tsx']),
      launch.entry ?? `${ROOT}src/cli/run.ts`,
      'route',
      '--config',
      configPath,
    ],
    cwd: ROOT,
    env: launch.env ?? { SWITCHYARD_LOG_LEVEL: 'debug' },
  });
  await waitFor(async () => (await httpRequest(`http://${api}/status`).catch(() => null))?.status === 200, {
    what: `router ${name} API on ${api}`,
    timeoutMs: launch.timeoutMs ?? 20_000,
    diagnose: () => group.logTail(name),
  });
  return proc;
}

/** A Patroni member key's value for a node on 127.0.0.1:`port` (REST API on `port + 1000`). */
export function memberJson(port: number, role: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    conn_url: `postgres://127.0.0.1:${port}/postgres`,
    api_url: `http://127.0.0.1:${port + 1000}/patroni`,
    state: 'running',
    role,
    ...extra,
  });
}

export interface ClusterStatus {
  leader: string | null;
  writable: boolean;
  writer: string | null;
  invalid: Array<{ key: string; reason: string }>;
}

export async function routerStatus(api: string): Promise<
  RouterStatus & {
    clusters: Record<string, ClusterStatus>;
    targets: Record<string, { runtime_api?: { connected: boolean } }>;
  }
> {
  const res = await httpRequest(`http://${api}/status`);
  return JSON.parse(res.body);
}

/** Waits until the router has read etcd and every target applied its latest generation. */
export async function waitApplied(api: string, timeoutMs = 5000): Promise<RouterStatus> {
  let last: RouterStatus | undefined;
  await waitFor(
    async () => {
      const status = await routerStatus(api);
      last = status;
      return (
        status.dcs.connected &&
        status.generation > 0 &&
        Object.values(status.targets).every((t) => t.applied_generation >= status.generation)
      );
    },
    {
      what: `router ${api} applied its latest generation`,
      timeoutMs,
      intervalMs: 20,
      diagnose: () => JSON.stringify(last?.targets),
    },
  );
  return last as RouterStatus;
}

/** Writes Patroni-layout keys exactly as Patroni does: one lease per member, leader by create-only txn. */
export class PatroniKeys {
  readonly client: Etcd3;
  private readonly leases = new Map<string, Lease>();
  constructor(
    endpoints: string[],
    private readonly scope: string,
    private readonly ttl = 10,
    tls?: { ca: string; cert: string; key: string },
    auth?: { username: string; password: string },
  ) {
    // The test's own writes retry through etcd restarts instead of tripping a circuit breaker.
    this.client = new Etcd3({
      hosts: endpoints.map((e) => `${tls ? 'https' : 'http'}://${e}`),
      ...(tls
        ? {
            credentials: {
              rootCertificate: readFileSync(tls.ca),
              certChain: readFileSync(tls.cert),
              privateKey: readFileSync(tls.key),
            },
          }
        : {}),
      ...(auth ? { auth } : {}),
      faultHandling: {
        host: () => noop,
        global: retry(handleAll, { maxAttempts: 50, backoff: new ConstantBackoff(200) }),
      },
    });
  }
  private key(k: string): string {
    return `/service/${this.scope}/${k}`;
  }
  private async lease(name: string): Promise<Lease> {
    let lease = this.leases.get(name);
    if (!lease) {
      lease = this.client.lease(this.ttl, { autoKeepAlive: true });
      lease.on('lost', () => this.leases.delete(name));
      this.leases.set(name, lease);
    }
    return lease;
  }
  async config(value: object = { ttl: this.ttl, loop_wait: 2, retry_timeout: 4 }): Promise<void> {
    await this.client.put(this.key('config')).value(JSON.stringify(value));
  }
  async member(name: string, value: string | object): Promise<void> {
    const lease = await this.lease(name);
    await lease
      .put(this.key(`members/${name}`))
      .value(typeof value === 'string' ? value : JSON.stringify(value));
  }
  /** Deletes the leader key (as its holder releasing it), then takes it for `name` with a create-only txn. */
  async leader(name: string | null): Promise<void> {
    await this.client.delete().key(this.key('leader'));
    if (name === null) return;
    const lease = await this.lease(name);
    const grant = await lease.grant();
    const ok = await this.client
      .if(this.key('leader'), 'Create', '==', 0)
      .then(this.client.put(this.key('leader')).value(name).lease(grant))
      .commit();
    if (!ok.succeeded) throw new Error(`leader key for ${name} was taken concurrently`);
  }
  async close(): Promise<void> {
    for (const lease of this.leases.values()) await lease.revoke().catch(() => undefined);
    this.client.close();
  }
}

export function memberValue(o: {
  port: number;
  apiPort: number;
  role: 'primary' | 'master' | 'replica';
  state?: string;
  xlog?: number;
}): object {
  return {
    conn_url: `postgres://127.0.0.1:${o.port}/postgres`,
    api_url: `http://127.0.0.1:${o.apiPort}/patroni`,
    state: o.state ?? 'running',
    role: o.role,
    version: '4.1.4',
    xlog_location: o.xlog ?? 50_000_000,
    timeline: 2,
  };
}

/**
 * A stand-in node: a TCP server that answers each connection with its name (so a client learns where
 * HAProxy sent it) and a Patroni-style REST check endpoint that answers 200 on /primary only while
 * `isPrimary()` says so.
 */
export class IdentityNode {
  tcp!: Server;
  rest!: HttpServer;
  port = 0;
  apiPort = 0;
  constructor(
    readonly name: string,
    private readonly isPrimary: () => boolean,
    /** Address both listeners bind (a veth address when an HAProxy in a namespace must reach them). */
    readonly host = '127.0.0.1',
  ) {}
  async start(): Promise<this> {
    this.tcp = createServer((sock) => {
      sock.on('error', () => undefined);
      sock.end(`${this.name}\n`);
    });
    this.rest = createHttpServer((req, res) => {
      const primary = this.isPrimary();
      const ok = req.url?.startsWith('/primary')
        ? primary
        : req.url?.startsWith('/replica')
          ? !primary
          : true;
      res.writeHead(ok ? 200 : 503).end();
    });
    await new Promise<void>((r) => this.tcp.listen(0, this.host, r));
    await new Promise<void>((r) => this.rest.listen(0, this.host, r));
    this.port = (this.tcp.address() as { port: number }).port;
    this.apiPort = (this.rest.address() as { port: number }).port;
    return this;
  }
  async stop(): Promise<void> {
    this.tcp.close();
    this.rest.closeAllConnections();
    this.rest.close();
  }
}

/** Connects to a listener and returns the node name it answered with, or the way it failed. */
export function whoAnswers(port: number, timeoutMs = 2000, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(port, host);
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve('timeout');
    }, timeoutMs);
    sock.on('data', (d) => (data += d.toString()));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`error:${e.code}`);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(data.trim() === '' ? 'closed' : data.trim());
    });
  });
}
