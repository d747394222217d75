import { after } from 'node:test';
import { join } from 'node:path';
import {
  freePorts,
  ProcessGroup,
  sleep,
  sqlQuery,
  startEtcd,
  waitFor,
  type EtcdCluster,
  type PatroniClusterOptions,
  type PatroniNode,
} from '../harness/index.js';

export const SUPERUSER = { username: 'postgres', password: 'agent-su-pw' };
export const REPLICATION = { username: 'replicator', password: 'agent-rep-pw' };
const ROOT = new URL('../..', import.meta.url).pathname;

/** One agent node: the same ports and paths as a Patroni lab node. */
export type AgentNode = Pick<
  PatroniNode,
  'name' | 'pgPort' | 'apiPort' | 'apiUrl' | 'dataDir' | 'configPath'
>;

/** The Patroni lab's options the agent lab honours, with a harness etcd. */
export interface AgentClusterOptions extends Pick<
  PatroniClusterOptions,
  | 'scope'
  | 'nodes'
  | 'ttl'
  | 'loopWait'
  | 'retryTimeout'
  | 'synchronousMode'
  | 'failsafeMode'
  | 'restApiAuth'
  | 'tags'
> {
  etcd: EtcdCluster;
  /** Extra keys of the `etcd3:` section (TLS files, credentials). */
  etcd3Extra?: Record<string, string>;
  /** Extra keys of the `restapi:` section (TLS files, verify_client). */
  restapiExtra?: Record<string, string>;
}

export interface AgentCluster {
  nodes: AgentNode[];
  group: ProcessGroup;
  prefix: string;
  start(name: string): void;
  /** SIGTERM and wait (graceful: stops PostgreSQL, releases the key). */
  stop(name: string): Promise<void>;
  /** SIGKILL the agent and its PostgreSQL (postmaster by postmaster.pid). */
  kill(name: string): Promise<void>;
  pid(name: string): number | undefined;
  node(name: string): AgentNode;
  leaderKey(): Promise<string | undefined>;
  /** Waits until a node holds the key and its PostgreSQL accepts writes; returns its name. */
  waitForLeader(options?: { not?: string; timeoutMs?: number }): Promise<string>;
  /** Waits until every listed node streams from the leader. */
  waitForReplicas(names: string[], timeoutMs?: number): Promise<void>;
  sql<R extends Record<string, unknown> = Record<string, unknown>>(
    name: string,
    q: string,
    params?: unknown[],
  ): Promise<R[]>;
  isInRecovery(name: string): Promise<boolean | null>;
  logTail(name: string, lines?: number): string;
  stopAll(): Promise<void>;
}

function yaml(o: AgentClusterOptions, n: AgentNode, hosts: string): string {
  const tags = o.tags?.[n.name] ?? {};
  const auth = o.restApiAuth
    ? `\n  authentication: {username: ${o.restApiAuth.username}, password: ${o.restApiAuth.password}}`
    : '\n  allow_unauthenticated_writes: true';
  return `scope: ${o.scope}
name: ${n.name}
restapi:
  listen: 127.0.0.1:${n.apiPort}
  connect_address: 127.0.0.1:${n.apiPort}${auth}
${Object.entries(o.restapiExtra ?? {})
  .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`)
  .join('')}etcd3:
  hosts: ${hosts}
${Object.entries(o.etcd3Extra ?? {})
  .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`)
  .join('')}bootstrap:
  dcs:
    ttl: ${o.ttl ?? 10}
    loop_wait: ${o.loopWait ?? 2}
    retry_timeout: ${o.retryTimeout ?? 4}
    maximum_lag_on_failover: 1048576
    synchronous_mode: ${o.synchronousMode ?? false}
    failsafe_mode: ${o.failsafeMode ?? false}
    postgresql:
      use_pg_rewind: true
      parameters: {max_connections: 50, shared_buffers: 16MB}
  initdb: [{encoding: UTF8}, data-checksums]
  pg_hba:
    - host replication ${REPLICATION.username} 127.0.0.1/32 md5
    - host all all 127.0.0.1/32 md5
postgresql:
  listen: 127.0.0.1:${n.pgPort}
  connect_address: 127.0.0.1:${n.pgPort}
  data_dir: ${n.dataDir}
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: ${n.dataDir}.pgpass
  authentication:
    superuser: {username: ${SUPERUSER.username}, password: ${SUPERUSER.password}}
    replication: {username: ${REPLICATION.username}, password: ${REPLICATION.password}}
  parameters: {unix_socket_directories: '${join(n.dataDir, '..')}'}
tags: ${JSON.stringify(tags)}
`;
}

/** Writes patroni.yml files and starts one agent per node (`node --import tsx agent/main.ts agent -c ...`). */
export async function startAgentCluster(o: AgentClusterOptions): Promise<AgentCluster> {
  const group = ProcessGroup.create(`agent-${o.scope}`);
  const count = o.nodes ?? 3;
  const ports = await freePorts(count * 2);
  const nodes: AgentNode[] = [];
  for (let i = 0; i < count; i++) {
    const name = `pg${i + 1}`;
    const home = group.mkdir(name, { forPostgres: true });
    const n: AgentNode = {
      name,
      pgPort: ports[2 * i] as number,
      apiPort: ports[2 * i + 1] as number,
      apiUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
      dataDir: join(home, 'data'),
      configPath: '',
    };
    n.configPath = group.writeFile(`${name}.yml`, yaml(o, n, o.etcd.endpoints.join(',')));
    group.watchDataDir(n.dataDir);
    nodes.push(n);
  }
  const node = (name: string) => {
    const n = nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  };
  const start = (name: string) => {
    group.spawn({
      name,
      command: process.execPath,
      args: ['--import', 'tsx', join(ROOT, 'agent/main.ts'), 'agent', '-c', node(name).configPath],
      cwd: ROOT,
      // SWITCHYARD_AGENT_LOG_LEVEL=debug logs every cycle's sentence (for chasing a failing test).
      env: { SWITCHYARD_LOG_LEVEL: process.env['SWITCHYARD_AGENT_LOG_LEVEL'] ?? 'info' },
    });
  };
  const sql = <R extends Record<string, unknown>>(name: string, q: string, params?: unknown[]) =>
    sqlQuery<R>(
      { port: node(name).pgPort, user: SUPERUSER.username, password: SUPERUSER.password },
      q,
      params,
      5000,
    );
  const isInRecovery = async (name: string) => {
    try {
      const rows = await sql<{ r: boolean }>(name, 'SELECT pg_is_in_recovery() AS r');
      return rows[0]?.r ?? null;
    } catch {
      return null;
    }
  };
  const leaderKey = () => o.etcd.get(`/service/${o.scope}/leader`);
  const postmaster = async (name: string) => {
    const { postmasterPid } = await import('../harness/index.js');
    return postmasterPid(node(name).dataDir);
  };
  const cluster: AgentCluster = {
    nodes,
    group,
    prefix: `/service/${o.scope}/`,
    start,
    stop: (name) => group.stop(name, 'SIGTERM', 30_000),
    async kill(name) {
      const pm = await postmaster(name);
      group.signal(name, 'SIGKILL');
      if (pm !== undefined) {
        try {
          process.kill(pm, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await waitFor(() => !group.isRunning(name), { what: `${name} agent to exit`, timeoutMs: 5000 });
    },
    pid: (name) => group.pid(name),
    node,
    leaderKey,
    async waitForLeader(opts = {}) {
      return waitFor(
        async () => {
          const leader = await leaderKey();
          if (!leader || leader === opts.not) return null;
          return (await isInRecovery(leader)) === false ? leader : null;
        },
        {
          what: `a writable leader${opts.not ? ` other than ${opts.not}` : ''}`,
          timeoutMs: opts.timeoutMs ?? 60_000,
          diagnose: () => group.logTails(15),
        },
      );
    },
    async waitForReplicas(names, timeoutMs = 90_000) {
      await waitFor(
        async () => {
          const leader = await leaderKey();
          if (!leader) return null;
          const rows = await sql<{ application_name: string }>(
            leader,
            "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'",
          ).catch(() => []);
          const streaming = new Set(rows.map((r) => r.application_name));
          return names.every((n) => n === leader || streaming.has(n)) ? true : null;
        },
        {
          what: `replicas ${names.join(', ')} streaming`,
          timeoutMs,
          intervalMs: 250,
          diagnose: () => group.logTails(15),
        },
      );
    },
    sql,
    isInRecovery,
    logTail: (name, lines = 40) => group.logTail(name, lines),
    async stopAll() {
      await Promise.all(nodes.map((n) => group.stop(n.name, 'SIGTERM', 20_000).catch(() => undefined)));
      await group.cleanup();
    },
  };
  return cluster;
}

/**
 * Stalls every etcd member (SIGSTOP) and probes `canWrite` every 50 ms until a write is refused or
 * `limitMs` passed, then resumes etcd. Returns how long after the stall the first write was refused, or
 * null when every write within `limitMs` was accepted.
 */
export async function refusedAfterEtcdStall(
  etcd: EtcdCluster,
  canWrite: () => Promise<boolean>,
  limitMs: number,
): Promise<number | null> {
  etcd.pause();
  const pausedAt = Date.now();
  try {
    while (Date.now() - pausedAt < limitMs) {
      if (!(await canWrite())) return Date.now() - pausedAt;
      await sleep(50);
    }
    return null;
  } finally {
    etcd.resume();
  }
}

/** Starts every node of `cluster` and waits until one leads and all others stream; returns the leader. */
export async function startAll(cluster: AgentCluster): Promise<string> {
  for (const n of cluster.nodes) cluster.start(n.name);
  const leader = await cluster.waitForLeader({ timeoutMs: 90_000 });
  await cluster.waitForReplicas(cluster.nodes.map((n) => n.name));
  return leader;
}

/** `POST /switchover` away from `leader` (expects 200); returns the next leader once it accepts writes. */
export async function switchoverAway(cluster: AgentCluster, leader: string): Promise<string> {
  const res = await fetch(`${cluster.node(leader).apiUrl}/switchover`, {
    method: 'POST',
    body: JSON.stringify({ leader }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST /switchover answered ${res.status}: ${text}`);
  return cluster.waitForLeader({ not: leader, timeoutMs: 30_000 });
}

/**
 * The leader and the standby that `/service/<scope>/sync` names, once the leader's PostgreSQL reports
 * that standby as `sync` in pg_stat_replication (polled every 250 ms for up to `timeoutMs`).
 */
export async function waitForSyncPair(
  etcd: EtcdCluster,
  cluster: AgentCluster,
  scope: string,
  timeoutMs: number,
): Promise<{ leader: string; standby: string }> {
  return waitFor(
    async () => {
      const raw = await etcd.get(`/service/${scope}/sync`);
      if (!raw) return null;
      const v = JSON.parse(raw) as { leader?: string; sync_standby?: string | null };
      if (!v.leader || !v.sync_standby || v.leader !== (await cluster.leaderKey())) return null;
      const rows = await cluster.sql<{ application_name: string; sync_state: string }>(
        v.leader,
        'SELECT application_name, sync_state FROM pg_stat_replication',
      );
      return rows.some((r) => r.application_name === v.sync_standby && r.sync_state === 'sync')
        ? { leader: v.leader, standby: v.sync_standby }
        : null;
    },
    {
      what: `/sync of ${scope} naming a standby that PostgreSQL reports as sync`,
      timeoutMs,
      intervalMs: 250,
    },
  );
}

/** Which PostgreSQL answers on `port` (directly or through a proxy), as the agent lab's superuser; null when none. */
export async function serverBehind(port: number): Promise<{ port: number; inRecovery: boolean } | null> {
  try {
    const rows = await sqlQuery<{ port: number; r: boolean }>(
      { port, user: SUPERUSER.username, password: SUPERUSER.password },
      'SELECT inet_server_port() AS port, pg_is_in_recovery() AS r',
    );
    return rows[0] ? { port: rows[0].port, inRecovery: rows[0].r } : null;
  } catch {
    return null;
  }
}

/**
 * etcd and one agent cluster for a test file, made by `start` inside a test (all nodes started, leader and
 * streaming replicas awaited); after the file's tests, whatever `onStop` registered stops first (latest
 * first: a router, HAProxy), then the agents, then etcd.
 */
export function agentLabForFile(): {
  start(
    o: Omit<AgentClusterOptions, 'etcd'>,
  ): Promise<{ etcd: EtcdCluster; cluster: AgentCluster; leader: string }>;
  onStop(fn: () => Promise<unknown>): void;
} {
  let etcd: EtcdCluster | undefined;
  let cluster: AgentCluster | undefined;
  const stops: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await cluster?.stopAll();
    await etcd?.stop();
  });
  return {
    async start(o) {
      etcd = await startEtcd();
      cluster = await startAgentCluster({ ...o, etcd });
      return { etcd, cluster, leader: await startAll(cluster) };
    },
    onStop: (fn) => void stops.push(fn),
  };
}
