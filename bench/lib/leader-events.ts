import { startPatroniCluster, type EtcdCluster, type PatroniCluster } from '../../test/harness/index.js';
import { sleep } from './stats.js';

/**
 * A leader change a bench causes on a real Patroni cluster: `switchover` = `patronictl switchover
 * --force`; `hard_stop` = SIGTERM to the leader's Patroni (it stops PostgreSQL and releases the key);
 * `hard_kill` = SIGKILL to the leader's Patroni and PostgreSQL (the key expires after ttl).
 */
export type LeaderChange = 'switchover' | 'hard_stop' | 'hard_kill';

/** One leader change as {@link runLeaderEvent} saw it. */
export interface LeaderEvent<S> {
  from: string;
  to: string;
  /** When the change was requested (ms since the epoch). */
  t0: number;
  /** Request → the new leader accepts writes, per the harness (ms). */
  commandMs: number;
  /** What the event's observers saw (clients, probes, pollers). */
  seen: S;
}

/** Causes `change` on `cluster`, whose leader is `from`; resolves to the new leader once it accepts writes. */
async function causeLeaderChange(
  cluster: PatroniCluster,
  change: LeaderChange,
  from: string,
): Promise<string> {
  if (change === 'switchover') return cluster.switchover({ timeoutMs: 90_000 });
  if (change === 'hard_stop') void cluster.stopPatroni(from, 'SIGTERM', 30_000);
  else {
    const killed = await cluster.killLeader();
    if (killed !== from) throw new Error(`killed ${killed}, expected the leader ${from}`);
  }
  return cluster.waitForLeader({ not: from, timeoutMs: 90_000 });
}

/**
 * The benches' event loop, one turn: waits for a healthy cluster and for every endpoint to route to its
 * leader (`routesTo`), starts the observers (`observe(from)` returns their stop), lets them run `settleMs`,
 * causes `change`, waits until every endpoint routes to the new leader, lets the observers run `tailMs`
 * more and stops them (also on a failure). Call {@link restoreCluster} after reading what they saw.
 */
export async function runLeaderEvent<S>(opts: {
  cluster: PatroniCluster;
  change: LeaderChange;
  routesTo: (leader: string, what: string) => Promise<void>;
  observe: (from: string) => () => Promise<S>;
  settleMs: number;
  tailMs: number;
}): Promise<LeaderEvent<S>> {
  const { cluster, change } = opts;
  const from = await cluster.waitForHealthy({ timeoutMs: 120_000 });
  await opts.routesTo(from, `${from} before the ${change}`);
  const stop = opts.observe(from);
  let to = '';
  let t0 = 0;
  let commandMs = 0;
  let seen: S;
  try {
    await sleep(opts.settleMs);
    t0 = Date.now();
    to = await causeLeaderChange(cluster, change, from);
    commandMs = Date.now() - t0;
    await opts.routesTo(to, `the new leader ${to}`);
    await sleep(opts.tailMs);
  } finally {
    seen = await stop();
  }
  return { from, to, t0, commandMs, seen };
}

/** After a stop or a kill: starts the old leader's Patroni again and waits for a healthy cluster. */
export async function restoreCluster(cluster: PatroniCluster, event: { from: string }, change: LeaderChange) {
  if (change === 'switchover') return;
  await cluster.startNode(event.from);
  await cluster.waitForHealthy({ timeoutMs: 120_000 });
}

/**
 * The benches' Patroni cluster: 3 nodes, ttl 10, loop_wait 2, retry_timeout 4, on `etcd` (its v2 API
 * when `dcsApi` is `etcd`), healthy, with the table `switchyard_writes` the writers insert into.
 */
export async function startBenchCluster(
  etcd: EtcdCluster,
  scope: string,
  dcsApi: 'etcd3' | 'etcd' = 'etcd3',
): Promise<PatroniCluster> {
  const cluster = await startPatroniCluster({
    scope,
    nodes: 3,
    etcd,
    ttl: 10,
    loopWait: 2,
    retryTimeout: 4,
    dcsApi,
  });
  try {
    await cluster.sql(
      await cluster.waitForHealthy(),
      'CREATE TABLE IF NOT EXISTS switchyard_writes (id bigserial primary key, at timestamptz default now())',
    );
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}
