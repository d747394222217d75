import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, waitFor } from '../../harness/index.js';
import { createFaultLab, type FaultLab } from '../../harness/faultlab.js';
import { judgeFault, parseRecords } from './analyze.js';
import { createFaultCluster, SUPERUSER, TIMING, type FaultCluster } from './cluster.js';

const ROOT = new URL('../../..', import.meta.url).pathname;

export const FAULT_KINDS = [
  'leader-cut-from-etcd',
  'replica-cut-from-leader',
  'etcd-leader-loss',
  'sigstop-leader-agent',
  'sigstop-leader-agent-watchdog-dead',
  'kill9-leader-host',
  'rest-pool-exhausted-etcd-outage',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Which faults must move the leadership to another node. */
const FAILS_OVER: Record<FaultKind, boolean> = {
  'leader-cut-from-etcd': true,
  'replica-cut-from-leader': false,
  'etcd-leader-loss': false,
  'sigstop-leader-agent': true,
  'sigstop-leader-agent-watchdog-dead': true,
  'kill9-leader-host': true,
  'rest-pool-exhausted-etcd-outage': false,
};

export interface FaultResult {
  readonly kind: FaultKind;
  readonly oldPrimary: string;
  readonly finalPrimary: string;
  readonly acked: number;
  /** Agents whose process was gone after the fault (crashed), and restarted. */
  readonly agentsExited: string[];
  readonly lost: number[];
  readonly doubleWritable: number;
  /** Last ack from the old primary while the fault was on, and the latest moment its key could expire. */
  readonly lastAckOldDuringFault: number | null;
  readonly keyExpiry: number | null;
  /** lastAckOldDuringFault < keyExpiry (true when the old primary acked nothing during the fault). */
  readonly fencedBeforeExpiry: boolean;
  /** Client-measured failover (last ack on old → first ack on new), null when the leader did not change. */
  readonly failoverMs: number | null;
  readonly newPrimary: string | null;
  /** Longest stretch without any acknowledged write during the fault. */
  readonly writeGapMs: number;
  readonly faultAt: number;
  readonly healAt: number;
  readonly notes: string[];
}

export interface FaultBed {
  readonly lab: FaultLab;
  readonly cluster: FaultCluster;
  runs: number;
  destroy(): Promise<void>;
}

/** A lab (3-member etcd, 3 hosts, client) with a 3-node agent cluster in synchronous mode, healthy. */
export async function startFaultBed(prefix: string, subnet: string): Promise<FaultBed> {
  const lab = await createFaultLab({ prefix, subnet, hostCount: 3, etcdMembers: 3 });
  try {
    const cluster = createFaultCluster(lab, 'faults');
    for (const n of cluster.nodes) cluster.start(n.name);
    const leader = await cluster.waitHealthy(180_000);
    await cluster.sql(leader, 'CREATE TABLE faults_w (id bigint PRIMARY KEY, node text NOT NULL)');
    return { lab, cluster, runs: 0, destroy: () => lab.destroy() };
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}

interface Proc {
  pid: number | undefined;
  exited: Promise<unknown>;
}

function startClient(
  bed: FaultBed,
  mode: 'write' | 'rest',
  config: object,
  name: string,
): Proc & { out: string } {
  const out = join(bed.lab.dir, `${name}.jsonl`);
  const cfgPath = join(bed.lab.dir, `${name}.json`);
  writeFileSync(cfgPath, JSON.stringify({ ...config, out }), { mode: 0o600 });
  const child = bed.lab.spawnIn(
    bed.lab.client.ns,
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/agent/faults/client.ts'), mode, cfgPath],
    { log: join(bed.lab.dir, `${name}.log`), cwd: ROOT },
  );
  const exited = new Promise((r) => {
    if (child.exitCode !== null) r(child.exitCode);
    child.once('exit', r);
  });
  return { pid: child.pid, exited, out };
}

async function stopProc(p: Proc, ms = 10_000): Promise<void> {
  if (p.pid === undefined) return;
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    return;
  }
  const done = await Promise.race([p.exited.then(() => true), sleep(ms).then(() => false)]);
  if (!done) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

const readText = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

/**
 * A slow PostgreSQL for the agent only: its own backends (connections from the node's address as the
 * superuser; clients come from the client's address) are held stopped for `holdMs` out of every
 * `holdMs + 100` ms, so each agent query waits up to `holdMs`. Stopped backends are always continued
 * when this stops, and when the postmaster begins a shutdown (a slow query is cancelled by a shutdown).
 */
function slowAgentBackends(bed: FaultBed, name: string, holdMs = 6000): { stop(): number } {
  const node = bed.cluster.node(name);
  // process title: `postgres: [<cluster_name>: ]<user> <database> <client address>(<port>) <state>`
  const title = new RegExp(
    `^postgres: (?:[^:]+: )?${SUPERUSER.username} postgres ${node.ip.replaceAll('.', '\\.')}\\(`,
  );
  const frozen = new Map<number, number>();
  const cont = (pid: number) => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone
    }
    frozen.delete(pid);
  };
  const resting = new Map<number, number>();
  let stops = 0;
  const pmStopping = () => {
    const text = readText(join(node.dataDir, 'postmaster.pid'));
    const pm = Number(text.split('\n')[0]);
    return text === '' || /stopping/.test(text) || !(pm > 1 && readText(`/proc/${pm}/comm`) !== '');
  };
  const timer = setInterval(() => {
    const now = Date.now();
    if (pmStopping()) {
      for (const pid of [...frozen.keys()]) cont(pid);
      return;
    }
    for (const [pid, since] of frozen) {
      if (now - since < holdMs) continue;
      cont(pid);
      resting.set(pid, now);
    }
    for (const pid of bed.lab.pidsIn(node.ns)) {
      if (frozen.has(pid) || now - (resting.get(pid) ?? 0) < 100) continue;
      if (!title.test(readText(`/proc/${pid}/cmdline`))) continue;
      try {
        process.kill(pid, 'SIGSTOP');
        frozen.set(pid, now);
        stops++;
      } catch {
        // gone
      }
    }
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      for (const pid of [...frozen.keys()]) cont(pid);
      return stops;
    },
  };
}

const PG_PROGRAMS = new Set(['postgres', 'postmaster', 'pg_ctl', 'pg_rewind', 'pg_basebackup', 'initdb']);

/** The agent's helper processes (its watchdog): its children in the node's namespace that are not PostgreSQL. */
function watchdogPids(bed: FaultBed, name: string, agentPid: number): number[] {
  return bed.lab.pidsIn(bed.cluster.node(name).ns).filter((pid) => {
    const stat = readText(`/proc/${pid}/stat`);
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return ppid === agentPid && !PG_PROGRAMS.has(readText(`/proc/${pid}/comm`).trim());
  });
}

/** Waits until the client's file shows `count` acks from `node` after `since`. */
async function waitAcks(out: string, node: (n: string) => boolean, since: number, what: string, ms: number) {
  return waitFor(
    () => {
      const { acks } = parseRecords(readText(out));
      return acks.filter((a) => a.ack > since && node(a.node)).length >= 5 ? true : null;
    },
    { what, timeoutMs: ms, intervalMs: 200 },
  );
}

/** Runs one fault against a healthy cluster, measures it from the client, heals, and waits for health. */
export async function runFault(bed: FaultBed, kind: FaultKind): Promise<FaultResult> {
  const { lab, cluster } = bed;
  const notes: string[] = [];
  const oldPrimary = await cluster.waitHealthy();
  await cluster.sql(oldPrimary, 'TRUNCATE faults_w');
  const run = ++bed.runs;
  const client = startClient(
    bed,
    'write',
    {
      nodes: cluster.nodes.map((n) => ({ name: n.name, ip: n.ip })),
      password: SUPERUSER.password,
      etcdHosts: lab.etcdHosts,
      scope: cluster.scope,
      intervalMs: 10,
      maxMs: 150_000,
    },
    `client-${run}`,
  );
  const cleanups: (() => Promise<void> | void)[] = [];
  let faultAt = 0;
  let healAt = 0;
  try {
    await waitAcks(client.out, (n) => n === oldPrimary, 0, `client acks from ${oldPrimary}`, 30_000);
    await sleep(500);
    faultAt = Date.now();
    const primaryNode = cluster.node(oldPrimary);
    const waitNewLeader = async () => {
      await waitAcks(
        client.out,
        (n) => n !== oldPrimary,
        faultAt,
        `client acks from a node other than ${oldPrimary}`,
        (TIMING.ttl + 30) * 1000,
      );
      await sleep(1000);
    };
    /** SIGSTOP of the old primary's agent; SIGCONT when the fault heals. */
    const freezeOldAgent = () => {
      const pid = cluster.agentPid(oldPrimary);
      cleanups.push(() => {
        if (pid !== undefined) process.kill(pid, 'SIGCONT');
      });
      cluster.signalAgent(oldPrimary, 'SIGSTOP');
    };
    switch (kind) {
      case 'leader-cut-from-etcd': {
        cleanups.push(() => lab.heal());
        for (const e of lab.etcd) lab.cut(primaryNode, e);
        await waitNewLeader();
        break;
      }
      case 'replica-cut-from-leader': {
        const sync =
          cluster.syncKey()?.sync_standby ?? cluster.nodes.find((n) => n.name !== oldPrimary)?.name;
        notes.push(`cut ${sync ?? '?'} (the synchronous standby) from ${oldPrimary}`);
        cleanups.push(() => lab.heal());
        lab.cut(primaryNode, cluster.node(sync as string));
        await sleep(8000);
        break;
      }
      case 'etcd-leader-loss': {
        const leaderName = lab.etcdLeader();
        const i = lab.etcd.findIndex((e) => e.name === leaderName);
        if (i < 0) throw new Error('no etcd leader found');
        notes.push(`killed etcd leader ${leaderName}`);
        cleanups.push(() => lab.startEtcd(i));
        await lab.killEtcd(i);
        await sleep(8000);
        break;
      }
      case 'sigstop-leader-agent': {
        freezeOldAgent();
        await waitNewLeader();
        break;
      }
      case 'sigstop-leader-agent-watchdog-dead': {
        // The watchdog dies first (SIGKILL of the agent's non-PostgreSQL children); the agent has
        // loop_wait + 1 s to notice (restart it, or fence), then it freezes.
        const pid = cluster.agentPid(oldPrimary);
        const dogs = pid === undefined ? [] : watchdogPids(bed, oldPrimary, pid);
        notes.push(`killed watchdog pid(s) ${dogs.join(', ') || 'none found'}`);
        for (const dog of dogs) process.kill(dog, 'SIGKILL');
        await sleep((TIMING.loopWait + 1) * 1000);
        faultAt = Date.now();
        // Healing restarts this agent: a watchdog that stays dead would turn later faults of the bench
        // into this one.
        cleanups.push(async () => {
          await cluster.stopAgent(oldPrimary);
          cluster.start(oldPrimary);
        });
        freezeOldAgent();
        await waitNewLeader();
        break;
      }
      case 'kill9-leader-host': {
        cleanups.push(() => cluster.start(oldPrimary));
        await cluster.killHost(oldPrimary);
        await waitNewLeader();
        break;
      }
      case 'rest-pool-exhausted-etcd-outage': {
        const rest = startClient(
          bed,
          'rest',
          { url: `http://${primaryNode.ip}:8008`, concurrency: 6, maxMs: 60_000 },
          `rest-${run}`,
        );
        const slow = slowAgentBackends(bed, oldPrimary);
        cleanups.push(async () => {
          notes.push(`agent backends held stopped ${slow.stop()} times`);
          await stopProc(rest);
        });
        await sleep(1500);
        faultAt = Date.now();
        cleanups.push(() => lab.heal());
        for (const e of lab.etcd) lab.isolate(e.ns);
        // The key can expire ttl after the last renewal; hold the outage well past that.
        await sleep((TIMING.ttl + 5) * 1000);
        break;
      }
    }
  } finally {
    healAt = Date.now();
    for (const fn of cleanups.reverse()) await fn();
    await sleep(1000);
    await stopProc(client);
  }
  // An agent that died during the fault is a finding of its own: record it, start it again so the
  // cluster can recover for the next fault.
  const agentsExited = cluster.nodes.filter((n) => cluster.agentPid(n.name) === undefined).map((n) => n.name);
  for (const name of agentsExited) {
    notes.push(`agent ${name} exited during the fault: ${lastError(cluster.logTail(name, 30))}`);
    cluster.start(name);
  }
  let finalPrimary: string;
  try {
    finalPrimary = await cluster.waitHealthy();
  } catch (err) {
    // Judge the writes on whatever leads now; the result names the failure to recover.
    finalPrimary = cluster.leaderKey() ?? oldPrimary;
    notes.push(`cluster did not recover: ${String(err).split('\n')[0]}`);
  }
  const rows = await cluster.sql<{ id: string }>(finalPrimary, 'SELECT id FROM faults_w', 30_000);
  const present = new Set(rows.map((r) => Number(r.id)));
  const j = judgeFault(readText(client.out), present, oldPrimary, { faultAt, healAt });
  const lastAckOld = j.lastAckOldDuringFault;
  const expiry = j.keyExpiry;
  const fo = j.failover;
  const changed = fo.newPrimary !== null;
  if (FAILS_OVER[kind] && !changed) notes.push('expected a failover, the client saw none');
  if (!FAILS_OVER[kind] && changed) notes.push(`leadership moved to ${fo.newPrimary}`);
  const mustFence = FAILS_OVER[kind] || kind === 'rest-pool-exhausted-etcd-outage';
  return {
    kind,
    oldPrimary,
    finalPrimary,
    acked: j.acked,
    agentsExited,
    lost: j.lost,
    doubleWritable: j.doubleWritable,
    lastAckOldDuringFault: lastAckOld,
    keyExpiry: expiry,
    fencedBeforeExpiry: !mustFence || lastAckOld === null || (expiry !== null && lastAckOld < expiry),
    failoverMs: changed ? fo.failoverMs : null,
    newPrimary: fo.newPrimary,
    writeGapMs: j.writeGapMs,
    faultAt,
    healAt,
    notes,
  };
}

/** The first line of the last error (a stack trace's message) in a log tail. */
function lastError(tail: string): string {
  const lines = tail.split('\n');
  const at = lines.findLastIndex((l) => /^\w*Error|^\s+at /.test(l));
  if (at < 0) return 'no error in its log';
  let i = at;
  while (i > 0 && /^\s+at /.test(lines[i] ?? '')) i--;
  return lines
    .slice(i, i + 4)
    .join(' | ')
    .slice(0, 400);
}

/** One line for a diagnostic: what the client saw. */
export function describeResult(r: FaultResult): string {
  const rel = (t: number | null) => (t === null ? '-' : `${t - r.faultAt} ms`);
  return (
    `${r.kind}: old ${r.oldPrimary} → final ${r.finalPrimary}; acked ${r.acked}, lost ${r.lost.length}, ` +
    `double-writable ${r.doubleWritable}; last ack on old during fault ${rel(r.lastAckOldDuringFault)}, ` +
    `key expiry ${rel(r.keyExpiry)} (after the fault); failover ${r.failoverMs ?? '-'} ms; ` +
    `longest write gap ${r.writeGapMs} ms${r.notes.length ? `; ${r.notes.join('; ')}` : ''}`
  );
}

/** Log tails for a failure message. */
export function bedLogs(bed: FaultBed): string {
  const names = readdirSync(bed.lab.dir).filter((f) => f.startsWith('agent-') && f.endsWith('.log'));
  return names
    .map((f) => `--- ${f}\n${readText(join(bed.lab.dir, f)).split('\n').slice(-15).join('\n')}`)
    .join('\n');
}
