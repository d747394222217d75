import { join } from 'node:path';
import { stringify } from 'yaml';
import { run } from './exec.js';
import { PATRONI_SUPERUSER, buildPatroniConfig } from './patroni-config.js';
import { httpRequest } from './http.js';
import { freePorts } from './ports.js';
import { listensOn } from './pids.js';
import { ProcessGroup, postmasterPid, signalTree } from './processes.js';
import { sqlQuery } from './sql.js';
import { WaitAbortedError, waitFor } from './wait.js';
import type { EtcdCluster } from './etcd.js';

export { PATRONI_REPLICATION, PATRONI_SUPERUSER } from './patroni-config.js';

/** Options of {@link startPatroniCluster}. */
export interface PatroniClusterOptions {
  /** Number of nodes (default 3); names are pg1..pgN unless `names` is given. */
  nodes?: number;
  names?: string[];
  scope: string;
  /** DCS namespace (default "/service"). */
  namespace?: string;
  /** etcd `host:port` list. Either this or `etcd`. */
  etcdEndpoints?: string[];
  /** A harness etcd: gives endpoints, protocol, TLS files and credentials. */
  etcd?: Pick<EtcdCluster, 'endpoints' | 'protocol' | 'tls' | 'auth'> & { clientCertAuth?: boolean };
  ttl?: number;
  loopWait?: number;
  retryTimeout?: number;
  synchronousMode?: boolean;
  failsafeMode?: boolean;
  /** Basic auth for Patroni's unsafe REST endpoints (POST/PATCH/...); patronictl gets it too. */
  restApiAuth?: { username: string; password: string };
  /** Merged into `bootstrap.dcs` (dynamic configuration written to the `config` key). */
  extraDcs?: Record<string, unknown>;
  /** Merged into the `etcd3:` section of each node (the `etcd:` section with `dcsApi: 'etcd'`). */
  extraEtcd3?: Record<string, unknown>;
  /**
   * Which of Patroni's etcd sections the nodes get: `etcd3` (default, the v3 API) or `etcd` (the v2
   * API; the etcd must run with `enableV2`).
   */
  dcsApi?: 'etcd3' | 'etcd';
  /** Extra PostgreSQL parameters (local, per node). */
  pgParameters?: Record<string, string | number | boolean>;
  /** Tags per node name, e.g. `{ pg3: { nofailover: true } }`. */
  tags?: Record<string, Record<string, unknown>>;
  /** Extra keys of a node's `postgresql:` section (e.g. `before_stop`), by node name. */
  extraPostgresql?: (node: PatroniNode, configFile: string) => Record<string, unknown>;
  /** Start all nodes and wait until the leader is writable and all replicas stream (default 120 s). */
  timeoutMs?: number;
}

/** One Patroni node. pids are read live. */
export interface PatroniNode {
  name: string;
  pgPort: number;
  apiPort: number;
  /** `http://127.0.0.1:<apiPort>` */
  apiUrl: string;
  dataDir: string;
  configPath: string;
  /** postgres://postgres:...@127.0.0.1:<pgPort>/postgres */
  connectionString: string;
  patroniPid(): number | undefined;
  postgresPid(): number | undefined;
}

/** A member as Patroni's `GET /cluster` reports it. */
export interface PatroniMember {
  name: string;
  role: string;
  state: string;
  host?: string;
  port?: number;
  timeline?: number;
  lag?: number | string;
}

/** A running Patroni cluster on loopback. Every wait is bounded. */
export interface PatroniCluster {
  scope: string;
  namespace: string;
  /** etcd key prefix, e.g. "/service/demo/". */
  prefix: string;
  nodes: PatroniNode[];
  group: ProcessGroup;
  node(name: string): PatroniNode;
  /** `GET /cluster` from the first node that answers. */
  members(): Promise<PatroniMember[]>;
  /** Name of the running leader per `/cluster`, or undefined. */
  leader(): Promise<string | undefined>;
  /**
   * Waits (default 90 s) for a running leader, by default one that accepts writes; `not` excludes a
   * name; `mustRun` names nodes whose Patroni exiting ends the wait at once. Returns the leader's name.
   */
  waitForLeader(options?: {
    timeoutMs?: number;
    writable?: boolean;
    not?: string;
    mustRun?: string[];
  }): Promise<string>;
  /**
   * Waits (default 90 s) until every node with a running Patroni is running on its own ports, the
   * leader accepts writes, every replica streams from it and, in synchronous mode, a sync standby
   * exists. Returns the leader.
   */
  waitForHealthy(options?: { timeoutMs?: number; mustRun?: string[] }): Promise<string>;
  /** `patronictl switchover --force`; waits for a new writable leader and returns its name. */
  switchover(options?: { candidate?: string; timeoutMs?: number }): Promise<string>;
  /** SIGKILL the leader's Patroni and its postgres; returns the killed leader's name. */
  killLeader(): Promise<string>;
  /** SIGKILL (or `signal`) the postmaster of `name` (and its process group on SIGKILL). */
  killPostgres(name: string, signal?: NodeJS.Signals): void;
  /** Sends `signal` (default SIGTERM: Patroni stops postgres) and waits up to `timeoutMs` (default 30 s), then SIGKILL. */
  stopPatroni(name: string, signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
  /** Starts Patroni of a stopped/killed node again; waits until its REST API answers. */
  startNode(name: string): Promise<void>;
  sigstop(name: string): void;
  sigcont(name: string): void;
  /** `patronictl -c <config> ...args`; returns stdout; throws on non-zero exit. */
  patronictl(args: string[], options?: { timeoutMs?: number }): Promise<string>;
  /** Runs SQL on node `name` as the superuser over TCP; returns rows. */
  sql<R extends Record<string, unknown> = Record<string, unknown>>(
    name: string,
    query: string,
    params?: unknown[],
  ): Promise<R[]>;
  logTail(name: string, lines?: number): string;
  /** Kills everything (SIGKILL Patroni, immediate-stop postgres) and removes the temp dir; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a Patroni 3.0.2 cluster of PostgreSQL 15 nodes (as the postgres OS user) against an existing
 * etcd. The first node is started alone and bootstraps; the others start once it leads and clone
 * from it. Resolves when the leader accepts writes and every replica streams. On failure (bounded by
 * `timeoutMs`, default 120 s) it cleans up and throws with the state of /cluster and log tails.
 */
export async function startPatroniCluster(options: PatroniClusterOptions): Promise<PatroniCluster> {
  const count = options.names?.length ?? options.nodes ?? 3;
  const names = options.names ?? Array.from({ length: count }, (_, i) => `pg${i + 1}`);
  const etcdHosts = options.etcd?.endpoints ?? options.etcdEndpoints;
  if (!etcdHosts?.length) throw new Error('startPatroniCluster: give `etcdEndpoints` or `etcd`');
  if (options.etcd?.tls && options.etcd.auth && options.etcd.clientCertAuth !== false) {
    throw new Error(
      'startPatroniCluster: Patroni 3.0.2 cannot use an etcd 3.4 that has both auth and client-certificate auth ' +
        '(the gRPC gateway rejects client certificates once auth is on); start etcd with `clientCertAuth: false`',
    );
  }
  const timeoutMs = options.timeoutMs ?? 120_000;
  const namespace = options.namespace ?? '/service';
  const group = ProcessGroup.create(`patroni-${options.scope}`);
  try {
    const ports = await freePorts(count * 2);
    const nodes: PatroniNode[] = names.map((name, i) => {
      const nodeDir = group.mkdir(name, { forPostgres: true, mode: 0o700 });
      const pgPort = ports[2 * i] as number;
      const apiPort = ports[2 * i + 1] as number;
      const dataDir = join(nodeDir, 'data');
      const node: PatroniNode = {
        name,
        pgPort,
        apiPort,
        apiUrl: `http://127.0.0.1:${apiPort}`,
        dataDir,
        configPath: join(nodeDir, 'patroni.yml'),
        connectionString: `postgres://${PATRONI_SUPERUSER.username}:${PATRONI_SUPERUSER.password}@127.0.0.1:${pgPort}/postgres`,
        patroniPid: () => group.pid(name),
        postgresPid: () => postmasterPid(dataDir),
      };
      group.writeFile(
        `${name}/patroni.yml`,
        stringify(buildPatroniConfig(options, node, nodeDir, etcdHosts)),
        {
          forPostgres: true,
          mode: 0o600,
        },
      );
      group.watchDataDir(dataDir);
      return node;
    });
    const cluster = makeCluster(options, namespace, nodes, group);
    const first = nodes[0] as PatroniNode;
    const deadline = Date.now() + timeoutMs;
    spawnPatroni(group, first);
    await cluster.waitForLeader({ timeoutMs, mustRun: [first.name] });
    for (const node of nodes.slice(1)) spawnPatroni(group, node);
    await cluster.waitForHealthy({ timeoutMs: Math.max(1_000, deadline - Date.now()), mustRun: names });
    return cluster;
  } catch (error) {
    await group.cleanup();
    throw error;
  }
}

function spawnPatroni(group: ProcessGroup, node: PatroniNode): void {
  group.spawn({
    name: node.name,
    command: '/usr/bin/patroni',
    args: [node.configPath],
    asPostgres: true,
    env: { PYTHONUNBUFFERED: '1' },
  });
}

function makeCluster(
  options: PatroniClusterOptions,
  namespace: string,
  nodes: PatroniNode[],
  group: ProcessGroup,
): PatroniCluster {
  const node = (name: string): PatroniNode => {
    const found = nodes.find((n) => n.name === name);
    if (!found)
      throw new Error(
        `Patroni cluster ${options.scope}: no node "${name}" (have ${nodes.map((n) => n.name).join(', ')})`,
      );
    return found;
  };
  const members = async (): Promise<PatroniMember[]> => {
    let lastError: unknown;
    for (const n of nodes) {
      if (n.patroniPid() === undefined) continue;
      try {
        const res = await httpRequest(`${n.apiUrl}/cluster`, { timeoutMs: 2_000 });
        const body = res.json as { members?: PatroniMember[] } | undefined;
        if (res.status === 200 && body?.members) return body.members;
        lastError = new Error(`GET ${n.apiUrl}/cluster: ${res.status} ${res.body.slice(0, 200)}`);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError ?? new Error(`Patroni cluster ${options.scope}: no Patroni is running`);
  };
  // A standby cluster (`standby_cluster` in bootstrap.dcs) is led by a read-only `standby_leader`.
  const standby = options.extraDcs?.standby_cluster !== undefined;
  const leaderRole = standby ? 'standby_leader' : 'leader';
  const isLeading = (m: PatroniMember): boolean =>
    m.role === leaderRole && (m.state === 'running' || (standby && m.state === 'streaming'));
  const leader = async (): Promise<string | undefined> => (await members()).find(isLeading)?.name;
  const sql: PatroniCluster['sql'] = (name, query, params) =>
    sqlQuery(
      { port: node(name).pgPort, user: PATRONI_SUPERUSER.username, password: PATRONI_SUPERUSER.password },
      query,
      params,
    );
  const diagnose = async (): Promise<string> => {
    let state: string;
    try {
      state = JSON.stringify(await members());
    } catch (error) {
      state = `(no /cluster: ${error instanceof Error ? error.message : String(error)})`;
    }
    return `cluster ${options.scope} members: ${state}\n${group.logTails(15)}`;
  };
  const isWritable = async (name: string): Promise<boolean> => {
    const rows = await sql<{ r: boolean }>(name, 'select pg_is_in_recovery() as r');
    return rows[0]?.r === false;
  };
  const ownsPorts = (n: PatroniNode): boolean => {
    const patroni = n.patroniPid();
    const postgres = n.postgresPid();
    return (
      patroni !== undefined &&
      postgres !== undefined &&
      listensOn(patroni, n.apiPort) &&
      listensOn(postgres, n.pgPort)
    );
  };
  const assertRunning = (names: string[] | undefined): void => {
    const dead = (names ?? []).filter((n) => node(n).patroniPid() === undefined);
    if (dead.length) throw new WaitAbortedError(`Patroni exited on ${dead.join(', ')}`);
  };
  const waitForLeader: PatroniCluster['waitForLeader'] = (opts = {}) =>
    waitFor(
      async () => {
        assertRunning(opts.mustRun);
        const name = await leader();
        if (name === undefined || name === opts.not) return undefined;
        if ((opts.writable ?? !standby) && !(await isWritable(name))) return undefined;
        return name;
      },
      {
        timeoutMs: opts.timeoutMs ?? 90_000,
        intervalMs: 250,
        what: `a ${opts.not ? `leader other than ${opts.not}` : 'leader'} in ${options.scope}`,
        diagnose,
      },
    );
  const patronictl: PatroniCluster['patronictl'] = async (args, opts = {}) => {
    const cfg = (nodes.find((n) => n.patroniPid() !== undefined) ?? nodes[0]) as PatroniNode;
    const result = await run('/usr/bin/patronictl', ['-c', cfg.configPath, ...args], {
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
    return result.stdout;
  };
  return {
    scope: options.scope,
    namespace,
    prefix: `${`/${namespace}/${options.scope}`.replace(/\/+/g, '/')}/`,
    nodes,
    group,
    node,
    members,
    leader,
    waitForLeader,
    async waitForHealthy(opts = {}) {
      return waitFor(
        async () => {
          assertRunning(opts.mustRun);
          const list = await members();
          const lead = list.find(isLeading);
          if (!lead) return undefined;
          const running = nodes.filter((n) => n.patroniPid() !== undefined);
          // the ports must be held by our own processes, not by another cluster that took a port
          const ours = running.every((n) => ownsPorts(n));
          const expected = running.map((n) => n.name);
          // Patroni 4 (and 3.0.4+) reports a replica that streams as state "streaming" in /cluster
          const up = (state: string): boolean => state === 'running' || state === 'streaming';
          const ok = expected.every((name) => list.some((m) => m.name === name && up(m.state)));
          if (!ours || !ok || (!standby && !(await isWritable(lead.name)))) return undefined;
          if (
            options.synchronousMode &&
            expected.length > 1 &&
            !list.some((m) => m.role === 'sync_standby')
          ) {
            return undefined;
          }
          const replicas = expected.filter((n) => n !== lead.name);
          const rows = await sql<{ application_name: string }>(
            lead.name,
            "select application_name from pg_stat_replication where state = 'streaming'",
          );
          return replicas.every((r) => rows.some((row) => row.application_name === r))
            ? lead.name
            : undefined;
        },
        {
          timeoutMs: opts.timeoutMs ?? 90_000,
          intervalMs: 500,
          what:
            `cluster ${options.scope} to be healthy (leader writable, replicas streaming` +
            `${options.synchronousMode ? ', a sync standby' : ''})`,
          diagnose,
        },
      );
    },
    async switchover(opts = {}) {
      const old = await waitForLeader({ timeoutMs: 30_000 });
      const args = ['switchover', '--leader', old, '--force'];
      if (opts.candidate) args.push('--candidate', opts.candidate);
      await patronictl([...args, options.scope]);
      const next = await waitForLeader({ timeoutMs: opts.timeoutMs ?? 90_000, not: old });
      if (opts.candidate && next !== opts.candidate) {
        throw new Error(`switchover in ${options.scope}: expected ${opts.candidate} to lead, got ${next}`);
      }
      return next;
    },
    async killLeader() {
      const name = await waitForLeader({ timeoutMs: 30_000, writable: false });
      const n = node(name);
      const pgPid = n.postgresPid();
      await group.stop(name, 'SIGKILL', 5_000);
      if (pgPid !== undefined) signalTree(pgPid, 'SIGKILL');
      return name;
    },
    killPostgres(name, signal = 'SIGKILL') {
      const pid = node(name).postgresPid();
      if (pid === undefined) return;
      if (signal === 'SIGKILL') signalTree(pid, 'SIGKILL');
      else process.kill(pid, signal);
    },
    async stopPatroni(name, signal = 'SIGTERM', timeoutMs = 30_000) {
      await group.stop(node(name).name, signal, timeoutMs);
    },
    async startNode(name) {
      const n = node(name);
      spawnPatroni(group, n);
      await waitFor(async () => (await httpRequest(`${n.apiUrl}/patroni`, { timeoutMs: 2_000 })).status > 0, {
        timeoutMs: 60_000,
        intervalMs: 250,
        what: `Patroni ${name} REST API to answer`,
        diagnose: () => group.logTail(name, 30),
      });
    },
    sigstop(name) {
      group.signal(node(name).name, 'SIGSTOP');
    },
    sigcont(name) {
      group.signal(node(name).name, 'SIGCONT');
    },
    patronictl,
    sql,
    logTail(name, lines = 40) {
      return group.logTail(name, lines);
    },
    async stop() {
      for (const n of nodes) group.signal(n.name, 'SIGCONT');
      await group.cleanup();
    },
  };
}
