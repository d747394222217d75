import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor, sleep } from './wait.js';

/**
 * A lab of network namespaces on one bridge: host namespaces (database hosts, each with `eth0`), a
 * client namespace, and a bridge namespace that holds `br0` and runs etcd at `<subnet>.254`. Nothing
 * touches the root namespace's interfaces: every address lives inside namespaces this lab created, and
 * `destroy()` deletes them all (it is safe to call twice, and `createLab` cleans up when it fails half way).
 * Needs root (`ip netns add`).
 */
export interface LabNode {
  readonly ns: string;
  readonly iface: 'eth0';
  readonly ip: string;
  readonly mac: string;
  /** A process living in the namespace, so `/proc/<pid>/net/*` can be read without exec. */
  readonly anchorPid: number;
}

export interface Lab {
  readonly prefix: string;
  readonly subnet: string;
  readonly bridgeNs: string;
  readonly hosts: readonly LabNode[];
  readonly client: LabNode;
  readonly dir: string;
  /** etcd client URL inside the lab (`http://<subnet>.254:2379`). */
  readonly etcdUrl: string;
  /** The same etcd from the root namespace (a loopback forward), for the test itself. */
  readonly etcdLocal: string;
  readonly etcd: ChildProcess;
  /** Runs a program inside a namespace and returns its stdout (throws on non-zero exit). */
  run(ns: string, file: string, args: readonly string[], timeoutMs?: number): string;
  /** Starts a long-running program inside a namespace; killed by `destroy()`. */
  spawnIn(ns: string, file: string, args: readonly string[], options?: { log?: string }): ChildProcess;
  /** Text of a log file in the lab's directory ('' when absent). */
  readLog(name: string): string;
  /** Stops every process this lab started, deletes the namespaces and the temp dir. */
  destroy(): Promise<void>;
}

export interface LabOptions {
  /** Short namespace prefix, unique per test file (e.g. `syv`). */
  prefix: string;
  hostCount: number;
  /** First three octets of the lab subnet, e.g. `10.213.0`; only ever used inside the lab. */
  subnet: string;
  /** Optional IPv6 prefix (e.g. `fd77:213:7`): node N also gets `<prefix>::N/64` (client `::200`). */
  subnet6?: string;
  /** Extra etcd flags (e.g. `--enable-v2` for vip-manager 1.0.2). */
  etcdArgs?: string[];
}

/** Runs `ip ARGS` and returns its output (throws on a non-zero exit). */
export function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs `file args` inside the namespace `ns` and returns its output (throws on a non-zero exit). */
export function runIn(ns: string, file: string, args: readonly string[], timeoutMs = 10_000): string {
  return execFileSync('ip', ['netns', 'exec', ns, file, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Creates the namespace `ns` with its loopback up and records it in `namespaces` (for teardown). */
export function addNamespace(namespaces: string[], ns: string): void {
  ip(['netns', 'add', ns]);
  namespaces.push(ns);
  ip(['-n', ns, 'link', 'set', 'lo', 'up']);
}

/** Creates the namespace `bridgeNs` holding a bridge `br0` that is up. */
export function addBridgeNamespace(namespaces: string[], bridgeNs: string): void {
  addNamespace(namespaces, bridgeNs);
  ip(['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
  ip(['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
}

/**
 * Deletes the namespaces (last created first) and the lab's folder; SWITCHYARD_KEEP_LAB=1 keeps the
 * folder (logs) for diagnosis, namespaces are always removed.
 */
export function removeLab(namespaces: readonly string[], dir: string, what: string): void {
  for (const ns of [...namespaces].reverse()) {
    try {
      ip(['netns', 'del', ns]);
    } catch {
      // already gone
    }
  }
  if (process.env['SWITCHYARD_KEEP_LAB'] === '1') process.stderr.write(`${what} kept in ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}

/** Deletes namespaces left by an earlier, killed run of the same prefix. */
export function removeStaleLab(prefix: string): void {
  const names = ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
  for (const name of names) {
    try {
      ip(['netns', 'del', name]);
    } catch {
      // already gone
    }
  }
}

/** `fd77::100` → `fd770000000000000000000000000100`, the form of /proc/net/if_inet6. */
export function expandIPv6(address: string): string {
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
    : h;
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/**
 * Is `address` configured in the namespace of `pid`? Reads the kernel's tables without exec (~0.1 ms):
 * IPv4 from the local routes in `fib_trie` (kept while the link is down, like the address), IPv6 from
 * `if_inet6`.
 */
export function holdsAddress(pid: number, address: string): boolean {
  if (address.includes(':')) {
    return readFileSync(`/proc/${pid}/net/if_inet6`, 'utf8').includes(`${expandIPv6(address)} `);
  }
  const text = readFileSync(`/proc/${pid}/net/fib_trie`, 'utf8');
  const at = text.indexOf(`|-- ${address}\n`);
  return at >= 0 && /^\s*\/32 host LOCAL/.test(text.slice(at + address.length + 5));
}

export async function createLab(options: LabOptions): Promise<Lab> {
  const { prefix, subnet } = options;
  removeStaleLab(prefix);
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const bridgeNs = `${prefix}-br`;
  const children: ChildProcess[] = [];
  const namespaces: string[] = [];
  const run = runIn;
  const spawnIn = (
    ns: string,
    file: string,
    args: readonly string[],
    spawnOptions: { log?: string } = {},
  ) => {
    // `ip netns exec` execs the program: the child's pid is the program's pid, so signals reach it directly.
    const out = spawnOptions.log ? openSync(spawnOptions.log, 'a') : 'ignore';
    const child = spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: ['ignore', out, out] });
    if (typeof out === 'number') closeSync(out);
    children.push(child);
    return child;
  };
  let destroyed = false;
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(
      children.map((c) =>
        c.exitCode !== null || c.signalCode !== null
          ? Promise.resolve()
          : Promise.race([new Promise((r) => c.once('exit', r)), sleep(2000)]),
      ),
    );
    removeLab(namespaces, dir, 'lab logs');
  };

  try {
    const addNs = (ns: string) => addNamespace(namespaces, ns);
    addBridgeNamespace(namespaces, bridgeNs);
    ip(['-n', bridgeNs, 'addr', 'add', `${subnet}.254/24`, 'dev', 'br0']);
    const nodes: LabNode[] = [];
    const names = [...Array.from({ length: options.hostCount }, (_, i) => `h${i + 1}`), 'client'];
    names.forEach((name, i) => {
      const ns = `${prefix}-${name}`;
      addNs(ns);
      const port = `p${i + 1}`;
      ip(['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', bridgeNs]);
      ip(['-n', bridgeNs, 'link', 'set', port, 'master', 'br0', 'up']);
      const hostIp = name === 'client' ? `${subnet}.200` : `${subnet}.${i + 1}`;
      ip(['-n', ns, 'addr', 'add', `${hostIp}/24`, 'dev', 'eth0']);
      if (options.subnet6) {
        const suffix = name === 'client' ? '200' : String(i + 1);
        ip(['-n', ns, 'addr', 'add', `${options.subnet6}::${suffix}/64`, 'dev', 'eth0', 'nodad']);
      }
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      const link = JSON.parse(ip(['-n', ns, '-j', 'link', 'show', 'dev', 'eth0'])) as Array<{
        address: string;
      }>;
      const anchor = spawnIn(ns, 'sleep', ['86400']);
      nodes.push({ ns, iface: 'eth0', ip: hostIp, mac: link[0]?.address ?? '', anchorPid: anchor.pid ?? 0 });
    });
    // the anchors are `ip netns exec` processes until exec replaces them with sleep: wait for that
    await waitFor(
      () => nodes.every((n) => readFileSync(`/proc/${n.anchorPid}/comm`, 'utf8').trim() === 'sleep'),
      {
        what: 'namespace anchors to start',
        timeoutMs: 5000,
        intervalMs: 10,
      },
    );

    const etcdUrl = `http://${subnet}.254:2379`;
    const etcd = spawnIn(
      bridgeNs,
      'etcd',
      [
        '--name',
        'lab',
        '--data-dir',
        join(dir, 'etcd'),
        '--listen-client-urls',
        `${etcdUrl},http://127.0.0.1:2379`,
        '--advertise-client-urls',
        etcdUrl,
        '--listen-peer-urls',
        'http://127.0.0.1:2380',
        '--initial-advertise-peer-urls',
        'http://127.0.0.1:2380',
        '--initial-cluster',
        'lab=http://127.0.0.1:2380',
        ...(options.etcdArgs ?? []),
      ],
      { log: join(dir, 'etcd.log') },
    );
    // The test process lives in the root namespace: forward a loopback port to etcd through a unix socket.
    const socket = join(dir, 'etcd.sock');
    spawnIn(bridgeNs, 'socat', [`UNIX-LISTEN:${socket},fork,mode=600`, 'TCP:127.0.0.1:2379']);
    const localPort = 20000 + Math.floor(Math.random() * 20000);
    const forward = spawn(
      'socat',
      [`TCP-LISTEN:${localPort},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${socket}`],
      {
        stdio: 'ignore',
      },
    );
    children.push(forward);
    const etcdLocal = `127.0.0.1:${localPort}`;
    await waitFor(
      () => {
        run(
          bridgeNs,
          'etcdctl',
          ['--endpoints', etcdUrl, '--command-timeout=1s', 'endpoint', 'health'],
          3000,
        );
        return true;
      },
      { what: 'etcd in the lab to answer', timeoutMs: 20_000, intervalMs: 200 },
    );
    const hosts = nodes.slice(0, -1);
    const client = nodes.at(-1) as LabNode;
    const readLog = (name: string) => {
      try {
        return readFileSync(join(dir, name), 'utf8');
      } catch {
        return '';
      }
    };
    return {
      prefix,
      subnet,
      bridgeNs,
      hosts,
      client,
      dir,
      etcdUrl,
      etcdLocal,
      etcd,
      run,
      spawnIn,
      readLog,
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}
