import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { postgresUser, postmasterPid, sleep, waitFor } from '../../harness/index.js';
import type { FaultLab, FaultLabHost } from '../../harness/faultlab.js';

export const SUPERUSER = { username: 'postgres', password: 'faults-su-pw' };
const REPLICATION = { username: 'replicator', password: 'faults-rep-pw' };
const ROOT = new URL('../../..', import.meta.url).pathname;
/** The project's lab timing (issue 11): ttl 10, loop_wait 2, retry_timeout 4. */
export const TIMING = { ttl: 10, loopWait: 2, retryTimeout: 4 };

export interface FaultNode extends FaultLabHost {
  /** Directory holding the data dir and PostgreSQL's unix socket (filesystem: reachable from the test). */
  readonly home: string;
  readonly dataDir: string;
  readonly configPath: string;
  readonly log: string;
}

/** A 3-node agent cluster in synchronous mode, each agent and its PostgreSQL in the node's namespace. */
export interface FaultCluster {
  readonly scope: string;
  readonly nodes: readonly FaultNode[];
  node(name: string): FaultNode;
  start(name: string): void;
  agentPid(name: string): number | undefined;
  postmasterPid(name: string): number | undefined;
  /** SIGKILL of the agent, its PostgreSQL (postmaster and backends) and its watchdog: every process of the host. */
  killHost(name: string): Promise<void>;
  signalAgent(name: string, signal: NodeJS.Signals): void;
  /** SIGTERM of the agent (it stops PostgreSQL); SIGKILL after `ms`. */
  stopAgent(name: string, ms?: number): Promise<void>;
  /** SQL through the node's unix socket (not the network: works whatever the lab's links do). */
  sql<R extends Record<string, unknown>>(name: string, q: string, timeoutMs?: number): Promise<R[]>;
  leaderKey(): string | undefined;
  syncKey(): { leader?: string; sync_standby?: string | null } | undefined;
  /** Leader writable, the other nodes streaming from it, `/sync` naming one of them. */
  waitHealthy(timeoutMs?: number): Promise<string>;
  logTail(name: string, lines?: number): string;
}

function yaml(scope: string, lab: FaultLab, n: FaultNode): string {
  const net = `${lab.hosts[0]?.ip.split('.').slice(0, 3).join('.')}.0/24`;
  const hba = [
    'local all all trust',
    `host replication ${REPLICATION.username} ${net} md5`,
    `host all all ${net} md5`,
  ];
  return `scope: ${scope}
name: ${n.name}
restapi:
  listen: ${n.ip}:8008
  connect_address: ${n.ip}:8008
  allow_unauthenticated_writes: true
etcd3:
  hosts: ${lab.etcdHosts}
bootstrap:
  dcs:
    ttl: ${TIMING.ttl}
    loop_wait: ${TIMING.loopWait}
    retry_timeout: ${TIMING.retryTimeout}
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters: {max_connections: 60, shared_buffers: 16MB, wal_keep_size: 256MB}
  initdb: [{encoding: UTF8}, data-checksums]
  pg_hba: ${JSON.stringify(hba)}
postgresql:
  listen: ${n.ip}:5432
  connect_address: ${n.ip}:5432
  data_dir: ${n.dataDir}
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: ${join(n.home, 'pgpass')}
  pg_hba: ${JSON.stringify(hba)}
  authentication:
    superuser: {username: ${SUPERUSER.username}, password: ${SUPERUSER.password}}
    replication: {username: ${REPLICATION.username}, password: ${REPLICATION.password}}
  parameters: {unix_socket_directories: '${n.home}', fsync: 'off'}
tags: {}
`;
}

export function createFaultCluster(lab: FaultLab, scope: string): FaultCluster {
  const { uid, gid } = postgresUser();
  const nodes: FaultNode[] = lab.hosts.map((h) => {
    const home = join(lab.dir, `node-${h.name}`);
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, uid, gid);
    const n: FaultNode = {
      ...h,
      home,
      dataDir: join(home, 'data'),
      configPath: join(lab.dir, `${h.name}.yml`),
      log: join(lab.dir, `agent-${h.name}.log`),
    };
    writeFileSync(n.configPath, yaml(scope, lab, n), { mode: 0o600 });
    return n;
  });
  const agents = new Map<string, ReturnType<FaultLab['spawnIn']>>();
  const node = (name: string) => {
    const n = nodes.find((x) => x.name === name);
    if (!n) throw new Error(`fault cluster ${scope}: no node ${name}`);
    return n;
  };
  const agentPid = (name: string) => {
    const c = agents.get(name);
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  };
  const leaderKey = () => {
    try {
      return lab.etcdctl(['get', '--print-value-only', `/service/${scope}/leader`]).trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const sql = async <R extends Record<string, unknown>>(name: string, q: string, timeoutMs = 5000) => {
    const client = new pg.Client({
      host: node(name).home,
      port: 5432,
      user: SUPERUSER.username,
      database: 'postgres',
      connectionTimeoutMillis: 3000,
      query_timeout: timeoutMs,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.query<R>(q)).rows;
    } finally {
      void client.end().catch(() => undefined);
    }
  };
  const cluster: FaultCluster = {
    scope,
    nodes,
    node,
    start(name) {
      const n = node(name);
      agents.set(
        name,
        lab.spawnIn(
          n.ns,
          process.execPath,
          ['--import', 'tsx', join(ROOT, 'agent/main.ts'), 'agent', '-c', n.configPath],
          { log: n.log, cwd: ROOT, env: { SWITCHYARD_LOG_LEVEL: 'info' } },
        ),
      );
    },
    agentPid,
    postmasterPid: (name) => postmasterPid(node(name).dataDir),
    async killHost(name) {
      const n = node(name);
      for (let round = 0; round < 20; round++) {
        const pids = lab.pidsIn(n.ns);
        if (pids.length === 0) return;
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await sleep(50);
      }
      throw new Error(`processes of ${name} survived SIGKILL: ${lab.pidsIn(n.ns).join(', ')}`);
    },
    signalAgent(name, signal) {
      const pid = agentPid(name);
      if (pid === undefined) throw new Error(`agent ${name} is not running`);
      process.kill(pid, signal);
    },
    async stopAgent(name, ms = 30_000) {
      const c = agents.get(name);
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(ms).then(() => false)]))) {
        c.kill('SIGKILL');
        await Promise.race([exited, sleep(5000)]);
      }
    },
    sql,
    leaderKey,
    syncKey() {
      try {
        const raw = lab.etcdctl(['get', '--print-value-only', `/service/${scope}/sync`]).trim();
        return raw ? (JSON.parse(raw) as { leader?: string; sync_standby?: string | null }) : undefined;
      } catch {
        return undefined;
      }
    },
    async waitHealthy(timeoutMs = 120_000) {
      return waitFor(
        async () => {
          const leader = leaderKey();
          if (!leader || !nodes.some((n) => n.name === leader)) return null;
          const rec = await sql<{ r: boolean }>(leader, 'SELECT pg_is_in_recovery() AS r').catch(() => null);
          if (rec?.[0]?.r !== false) return null;
          const rows = await sql<{ application_name: string; sync_state: string }>(
            leader,
            "SELECT application_name, sync_state FROM pg_stat_replication WHERE state = 'streaming'",
          ).catch(() => []);
          const streaming = new Set(rows.map((r) => r.application_name));
          if (!nodes.every((n) => n.name === leader || streaming.has(n.name))) return null;
          if (!rows.some((r) => r.sync_state === 'sync')) return null;
          const sync = cluster.syncKey();
          return sync?.leader === leader && sync.sync_standby ? leader : null;
        },
        {
          what: `fault cluster ${scope}: a writable leader, every other node streaming, a synchronous standby`,
          timeoutMs,
          intervalMs: 500,
          diagnose: () => nodes.map((n) => `--- ${n.name}\n${cluster.logTail(n.name, 12)}`).join('\n'),
        },
      );
    },
    logTail(name, lines = 40) {
      return lab
        .readLog(`agent-${name}.log`)
        .split('\n')
        .slice(-lines - 1)
        .join('\n');
    },
  };
  return cluster;
}
