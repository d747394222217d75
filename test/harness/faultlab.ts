import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addBridgeNamespace, addNamespace, ip, removeLab, removeStaleLab, runIn } from './netns.js';
import { waitFor, sleep } from './wait.js';

/**
 * A partition lab: every etcd member, every database host and the client in a network namespace of its
 * own, each with `eth0` on one bridge (in a bridge namespace). Addresses (`<subnet>.N/24`) exist only in
 * namespaces this lab created; nothing touches the root namespace's interfaces.
 *
 * Faults: `isolate(ns)` takes a namespace's link down (`ip link set eth0 down`: a host cut from
 * everyone); `cut(a, b)` drops traffic between two namespaces only, with a `blackhole` route on each side
 * (packets are silently discarded, like `netem loss 100%`, which this kernel does not ship). `heal()`
 * undoes every cut. `destroy()` kills every process living in the lab's namespaces (by pid, found through
 * `/proc/<pid>/ns/net`), deletes the namespaces and removes the lab directory; it is safe to call twice.
 */
export interface FaultLabHost {
  readonly name: string;
  readonly ns: string;
  readonly ip: string;
}

export interface FaultLab {
  readonly prefix: string;
  readonly dir: string;
  readonly etcd: readonly FaultLabHost[];
  readonly hosts: readonly FaultLabHost[];
  readonly client: FaultLabHost;
  /** `ip1:2379,ip2:2379,…` for the etcd members, reachable from every lab namespace. */
  readonly etcdHosts: string;
  /** Runs a program inside a namespace and returns its stdout (throws on non-zero exit). */
  run(ns: string, file: string, args: readonly string[], timeoutMs?: number): string;
  /** Starts a long-running program inside a namespace (`ip netns exec` execs it: the pid is the program's). */
  spawnIn(
    ns: string,
    file: string,
    args: readonly string[],
    options?: { log?: string; cwd?: string; env?: NodeJS.ProcessEnv },
  ): ChildProcess;
  etcdctl(args: readonly string[], timeoutMs?: number): string;
  /** Starts etcd member i (0-based) again after `killEtcd(i)`, with its data. */
  startEtcd(i: number): void;
  /** SIGKILL of etcd member i. */
  killEtcd(i: number): Promise<void>;
  etcdPid(i: number): number | undefined;
  /** Name of the etcd member that is the raft leader, from `etcdctl endpoint status`. */
  etcdLeader(): string | undefined;
  isolate(ns: string): void;
  restore(ns: string): void;
  cut(a: FaultLabHost, b: FaultLabHost): void;
  heal(): void;
  /** Pids of the processes whose network namespace is `ns`. */
  pidsIn(ns: string): number[];
  readLog(name: string): string;
  destroy(): Promise<void>;
}

export interface FaultLabOptions {
  /** Short, unique namespace prefix (e.g. `syf1`). Namespaces are `<prefix>-<name>`. */
  prefix: string;
  /** First three octets of the lab subnet, e.g. `10.231.5`; used only inside the lab. */
  subnet: string;
  hostCount: number;
  etcdMembers: 1 | 3;
}

function netnsInode(ns: string): number | undefined {
  try {
    return statSync(`/run/netns/${ns}`).ino;
  } catch {
    return undefined;
  }
}

/** Processes whose network namespace is `ns` (compares namespace inodes: never matches by name). */
export function pidsInNamespace(ns: string): number[] {
  const inode = netnsInode(ns);
  if (inode === undefined) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (statSync(`/proc/${entry}/ns/net`).ino === inode) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function killAll(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export async function createFaultLab(options: FaultLabOptions): Promise<FaultLab> {
  const { prefix, subnet } = options;
  for (const stale of listNamespaces(prefix)) killAll(pidsInNamespace(stale), 'SIGKILL');
  removeStaleLab(prefix);
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-lab-`));
  chmodSync(dir, 0o711); // PostgreSQL (user postgres) lives in subdirectories it owns
  const bridgeNs = `${prefix}-br`;
  const namespaces: string[] = [];
  const children: ChildProcess[] = [];
  const cuts: { ns: string; dst: string }[] = [];
  const isolated = new Set<string>();
  const run = runIn;
  const spawnIn: FaultLab['spawnIn'] = (ns, file, args, o = {}) => {
    const out = o.log ? openSync(o.log, 'a') : 'ignore';
    const child = spawn('ip', ['netns', 'exec', ns, file, ...args], {
      stdio: ['ignore', out, out],
      cwd: o.cwd,
      env: o.env ? { ...process.env, ...o.env } : process.env,
    });
    if (typeof out === 'number') closeSync(out);
    child.unref();
    children.push(child);
    return child;
  };
  const pidsIn = (ns: string) => pidsInNamespace(ns);
  let destroyed = false;
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    // Everything living in the lab's namespaces: agents, PostgreSQL, watchdogs, etcd, clients.
    for (let round = 0; round < 20; round++) {
      const pids = namespaces.flatMap(pidsIn);
      if (pids.length === 0) break;
      killAll(pids, 'SIGCONT');
      killAll(pids, 'SIGKILL');
      await sleep(100);
    }
    removeLab(namespaces, dir, 'fault lab');
  };

  try {
    const addNs = (ns: string) => addNamespace(namespaces, ns);
    addBridgeNamespace(namespaces, bridgeNs);
    let port = 0;
    const attach = (name: string, hostIp: string): FaultLabHost => {
      const ns = `${prefix}-${name}`;
      addNs(ns);
      const peer = `p${++port}`;
      ip(['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', peer, 'netns', bridgeNs]);
      ip(['-n', bridgeNs, 'link', 'set', peer, 'master', 'br0', 'up']);
      ip(['-n', ns, 'addr', 'add', `${hostIp}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      return { name, ns, ip: hostIp };
    };
    const etcd = Array.from({ length: options.etcdMembers }, (_, i) =>
      attach(`e${i + 1}`, `${subnet}.${11 + i}`),
    );
    const hosts = Array.from({ length: options.hostCount }, (_, i) =>
      attach(`n${i + 1}`, `${subnet}.${21 + i}`),
    );
    const client = attach('cl', `${subnet}.200`);
    const etcdHosts = etcd.map((e) => `${e.ip}:2379`).join(',');
    const initialCluster = etcd.map((e) => `${e.name}=http://${e.ip}:2380`).join(',');
    const etcdChildren: (ChildProcess | undefined)[] = [];
    const startEtcd = (i: number) => {
      const e = etcd[i] as FaultLabHost;
      etcdChildren[i] = spawnIn(
        e.ns,
        'etcd',
        [
          '--name',
          e.name,
          '--data-dir',
          join(dir, `etcd-${e.name}`),
          '--listen-client-urls',
          `http://${e.ip}:2379`,
          '--advertise-client-urls',
          `http://${e.ip}:2379`,
          '--listen-peer-urls',
          `http://${e.ip}:2380`,
          '--initial-advertise-peer-urls',
          `http://${e.ip}:2380`,
          '--initial-cluster',
          initialCluster,
          '--initial-cluster-state',
          'new',
          '--heartbeat-interval',
          '50',
          '--election-timeout',
          '500',
          '--unsafe-no-fsync',
        ],
        { log: join(dir, `etcd-${e.name}.log`) },
      );
    };
    etcd.forEach((_, i) => startEtcd(i));
    const etcdctl = (args: readonly string[], timeoutMs = 5000) =>
      run(client.ns, 'etcdctl', ['--endpoints', etcdHosts, '--command-timeout=2s', ...args], timeoutMs);
    await waitFor(
      () => {
        etcdctl(['put', '/faultlab/ready', '1']);
        return true;
      },
      { what: 'etcd in the fault lab to accept writes', timeoutMs: 30_000, intervalMs: 200 },
    );
    const routeCut = (ns: string, dst: string) => {
      ip(['-n', ns, 'route', 'add', 'blackhole', `${dst}/32`]);
      cuts.push({ ns, dst });
    };
    const lab: FaultLab = {
      prefix,
      dir,
      etcd,
      hosts,
      client,
      etcdHosts,
      run,
      spawnIn,
      etcdctl,
      startEtcd,
      async killEtcd(i) {
        const child = etcdChildren[i];
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await Promise.race([exited, sleep(3000)]);
      },
      etcdPid: (i) => {
        const child = etcdChildren[i];
        return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
      },
      etcdLeader() {
        for (const e of etcd) {
          try {
            const out = run(client.ns, 'etcdctl', [
              '--endpoints',
              `${e.ip}:2379`,
              '--command-timeout=1s',
              '-w',
              'json',
              'endpoint',
              'status',
            ]);
            const st = JSON.parse(out) as { Status: { header: { member_id: number }; leader: number } }[];
            const s = st[0]?.Status;
            if (s && String(s.header.member_id) === String(s.leader)) return e.name;
          } catch {
            // member down or cut
          }
        }
        return undefined;
      },
      isolate(ns) {
        ip(['-n', ns, 'link', 'set', 'eth0', 'down']);
        isolated.add(ns);
      },
      restore(ns) {
        ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
        isolated.delete(ns);
      },
      cut(a, b) {
        routeCut(a.ns, b.ip);
        routeCut(b.ns, a.ip);
      },
      heal() {
        for (const c of cuts.splice(0)) {
          try {
            ip(['-n', c.ns, 'route', 'del', 'blackhole', `${c.dst}/32`]);
          } catch {
            // already gone
          }
        }
        for (const ns of [...isolated]) lab.restore(ns);
      },
      pidsIn,
      readLog(name) {
        try {
          return readFileSync(join(dir, name), 'utf8');
        } catch {
          return '';
        }
      },
      destroy,
    };
    return lab;
  } catch (err) {
    await destroy();
    throw err;
  }
}

function listNamespaces(prefix: string): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
}
