import {
  PATRONI_SUPERUSER,
  postmasterPid,
  signalTree,
  sqlQuery,
  startPatroniCluster,
  waitFor,
  type EtcdCluster,
} from '../../test/harness/index.js';
import { SUPERUSER, startAgentCluster } from '../../test/agent/helpers.js';

/** One HA implementation under test: a 3-node cluster with the same DCS settings. */
export interface Subject {
  readonly kind: 'agent' | 'patroni';
  readonly scope: string;
  readonly password: string;
  readonly nodes: readonly { name: string; pgPort: number }[];
  leader(): Promise<string | undefined>;
  /** `/service/<scope>/` */
  readonly prefix: string;
  /** Planned switchover by `POST /switchover` to the leader's REST API (returns when it answers). */
  switchover(leader: string): Promise<void>;
  /** kill -9 of the leader's HA process and PostgreSQL (host death). */
  killLeader(leader: string): Promise<void>;
  /** kill -9 of the leader's PostgreSQL (postmaster and children); its HA process stays. */
  crashPostgres(leader: string): Promise<void>;
  /** A leader other than `not` (or any with `not` undefined) that accepts writes. */
  waitForNewLeader(not?: string): Promise<string>;
  restart(name: string): Promise<void>;
  waitHealthy(): Promise<void>;
  stop(): Promise<void>;
}

const DCS = { ttl: 10, loopWait: 2, retryTimeout: 4 };

/** `POST /switchover {leader}`, Patroni's and the agent's REST API alike; throws unless 200. */
async function restSwitchover(apiUrl: string, leader: string, logs: () => string): Promise<void> {
  const res = await fetch(`${apiUrl}/switchover`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ leader }),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`switchover: ${res.status} ${text}\n${logs()}`);
}

function crash(dataDir: string): void {
  const pid = postmasterPid(dataDir);
  if (pid !== undefined) signalTree(pid, 'SIGKILL');
}

/** Synchronous mode settled: `/sync` names the current leader and a standby (a switchover needs one). */
async function waitForSync(etcd: EtcdCluster, scope: string): Promise<void> {
  await waitFor(
    async () => {
      const raw = await etcd.get(`/service/${scope}/sync`);
      const leader = await etcd.get(`/service/${scope}/leader`);
      if (!raw || !leader) return null;
      const v = JSON.parse(raw) as { leader?: string; sync_standby?: string | null };
      return v.leader === leader && v.sync_standby ? true : null;
    },
    { what: `/sync of ${scope} naming a standby`, timeoutMs: 60_000, intervalMs: 100 },
  );
}

async function writableLeader(
  etcd: EtcdCluster,
  scope: string,
  password: string,
  ports: Map<string, number>,
  not?: string,
): Promise<string> {
  return waitFor(
    async () => {
      const leader = await etcd.get(`/service/${scope}/leader`);
      if (!leader || leader === not) return null;
      try {
        const rows = await sqlQuery<{ r: boolean }>(
          { port: ports.get(leader) as number, password },
          'SELECT pg_is_in_recovery() AS r',
        );
        return rows[0]?.r === false ? leader : null;
      } catch {
        return null;
      }
    },
    {
      what: `a writable leader of ${scope}${not ? ` other than ${not}` : ''}`,
      timeoutMs: 60_000,
      intervalMs: 50,
    },
  );
}

type Shared = Pick<
  Subject,
  'scope' | 'prefix' | 'password' | 'nodes' | 'switchover' | 'crashPostgres' | 'waitForNewLeader'
>;

/** What both subjects do alike, given the cluster's nodes and their logs. */
function shared(
  etcd: EtcdCluster,
  scope: string,
  password: string,
  nodes: readonly { name: string; pgPort: number; apiUrl: string; dataDir: string }[],
  logTail: (name: string, lines: number) => string,
): Shared {
  const node = (name: string) => nodes.find((n) => n.name === name) as (typeof nodes)[number];
  const ports = new Map(nodes.map((n) => [n.name, n.pgPort]));
  return {
    scope,
    prefix: `/service/${scope}/`,
    password,
    nodes,
    switchover: (leader) =>
      restSwitchover(node(leader).apiUrl, leader, () =>
        nodes.map((n) => `--- ${n.name}\n${logTail(n.name, 25)}`).join('\n'),
      ),
    async crashPostgres(leader) {
      crash(node(leader).dataDir);
    },
    waitForNewLeader: (not) => writableLeader(etcd, scope, password, ports, not),
  };
}

/** The cluster both subjects start: 3 nodes, {@link DCS}, synchronous mode. */
const clusterOptions = (etcd: EtcdCluster, scope: string) =>
  ({ scope, nodes: 3, etcd, ...DCS, synchronousMode: true }) as const;

export async function agentSubject(etcd: EtcdCluster): Promise<Subject> {
  const c = await startAgentCluster(clusterOptions(etcd, 'bagent'));
  for (const n of c.nodes) c.start(n.name);
  const self: Subject = {
    kind: 'agent',
    ...shared(etcd, 'bagent', SUPERUSER.password, c.nodes, (name, lines) => c.logTail(name, lines)),
    leader: () => c.leaderKey(),
    killLeader: (leader) => c.kill(leader),
    async restart(name) {
      c.start(name);
    },
    async waitHealthy() {
      await self.waitForNewLeader();
      await c.waitForReplicas(
        c.nodes.map((n) => n.name),
        180_000,
      );
      await waitForSync(etcd, 'bagent');
    },
    stop: () => c.stopAll(),
  };
  return self;
}

export async function patroniSubject(etcd: EtcdCluster): Promise<Subject> {
  const scope = 'bpatroni';
  const c = await startPatroniCluster(clusterOptions(etcd, scope));
  return {
    kind: 'patroni',
    ...shared(etcd, scope, PATRONI_SUPERUSER.password, c.nodes, (name, lines) => c.logTail(name, lines)),
    leader: () => etcd.get(`/service/${scope}/leader`),
    async killLeader() {
      await c.killLeader();
    },
    restart: (name) => c.startNode(name),
    async waitHealthy() {
      await c.waitForHealthy({ timeoutMs: 180_000 });
      await waitForSync(etcd, scope);
    },
    stop: () => c.stop(),
  };
}
