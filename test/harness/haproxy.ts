import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { run } from './exec.js';
import { freePort } from './ports.js';
import { ProcessGroup, isAlive, signalTree } from './processes.js';
import { stackCommand } from './stack.js';
import { WaitAbortedError, waitFor } from './wait.js';

/**
 * The address of an HAProxy socket: a Unix path, or TCP written as HAProxy's config does
 * (`ipv4@host:port`, `ipv6@[addr]:port`) or as the router's `runtime_api` does (`tcp://host:port`).
 */
export function socketAddress(endpoint: string): { path: string } | { host: string; port: number } {
  const tcp = /^(?:tcp:\/\/|ipv4@|ipv6@)\[?([^\]]+?)\]?:(\d+)$/.exec(endpoint);
  return tcp ? { host: tcp[1] as string, port: Number(tcp[2]) } : { path: endpoint };
}

/**
 * Sends one command to an HAProxy socket (stats/runtime API or master CLI; Unix path or TCP, see
 * {@link socketAddress}) and returns the whole reply (the socket closes after one command in
 * non-interactive mode). Bounded by `timeoutMs` (3 s).
 */
export function haproxyCommand(socketPath: string, command: string, timeoutMs = 3_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketAddress(socketPath));
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`haproxy socket ${socketPath}: no complete reply to "${command}" within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.end(`${command}\n`)); // half-close: the master CLI answers only after EOF
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

/** Result of {@link haproxyCheck}. */
export interface HaproxyCheckResult {
  ok: boolean;
  output: string;
}

/** Runs `haproxy -c -f <path>` (config validation). Never throws for an invalid config. */
export async function haproxyCheck(path: string): Promise<HaproxyCheckResult> {
  const result = await run('/usr/sbin/haproxy', ['-c', '-f', path], { reject: false, timeoutMs: 15_000 });
  return { ok: result.exitCode === 0, output: `${result.stdout}${result.stderr}`.trim() };
}

/** One line of the master CLI `show proc`. */
export interface HaproxyProc {
  pid: number;
  type: 'master' | 'worker';
  /** True for workers listed under "# old workers" (still draining after a reload). */
  isOld: boolean;
  reloads: number;
  /** Master only: failed reloads so far (`[failed: N]`). */
  failedReloads?: number;
}

/** Parses HAProxy 2.6 master CLI `show proc` output. */
export function parseShowProc(text: string): HaproxyProc[] {
  const procs: HaproxyProc[] = [];
  let isOld = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('# old workers')) isOld = true;
    else if (line.startsWith('# workers')) isOld = false;
    const m = /^(\d+)\s+(master|worker)\s+(\d+)(?:\s+\[failed:\s*(\d+)\])?/.exec(line.trim());
    if (!m) continue;
    const proc: HaproxyProc = {
      pid: Number(m[1]),
      type: m[2] as 'master' | 'worker',
      isOld,
      reloads: Number(m[3]),
    };
    if (m[4] !== undefined) proc.failedReloads = Number(m[4]);
    procs.push(proc);
  }
  return procs;
}

/** Options of {@link startHaproxy}. Give `configPath` or `config` (written to the temp dir as haproxy.cfg). */
export interface HaproxyOptions {
  configPath?: string;
  config?: string;
  /** Start timeout (default 15 s). */
  timeoutMs?: number;
  /** Run HAProxy inside this network namespace (`ip netns exec`); the master socket stays a host path. */
  netns?: string;
}

/** A running HAProxy in master-worker mode (`-W -db -S <master.sock>`). */
export interface HaproxyInstance {
  /** Master pid. */
  pid: number;
  configPath: string;
  masterSocket: string;
  /** Address of the first `stats socket` in the config (runtime API), if any: a path or `ipv4@host:port`. */
  statsSocket?: string;
  group: ProcessGroup;
  /** Current (not old) worker pids from `show proc`. */
  workerPids(): Promise<number[]>;
  /** Raw master CLI command, e.g. "show proc". */
  master(command: string): Promise<string>;
  /** Runtime API command on {@link statsSocket}, e.g. "show servers state"; throws if the config has none. */
  runtime(command: string): Promise<string>;
  /**
   * SIGUSR2 to the master, then waits (default 10 s) for a new worker and returns its pid. Throws at
   * once, with the log tail, when the master counts a failed reload (bad config: old worker kept).
   */
  reload(options?: { timeoutMs?: number }): Promise<number>;
  logTail(lines?: number): string;
  /** SIGTERM master (workers follow), SIGKILL after 5 s. */
  stopProcess(): Promise<void>;
  /** SIGKILL master and workers (process group). */
  kill9(): Promise<void>;
  /** Kills everything and removes the temp dir (your configPath is left alone unless it is inside it). */
  stop(): Promise<void>;
}

/**
 * `haproxy ARGS`, or `ip netns exec NS haproxy ARGS` (exec all the way: the pid stays HAProxy's); on the
 * trixie stack the namespace wraps the stack's chroot.
 */
function haproxyCommandLine(args: string[], netns?: string): { command: string; args: string[] } {
  if (!netns) return { command: '/usr/sbin/haproxy', args };
  const inStack = stackCommand('/usr/sbin/haproxy', args);
  return { command: 'ip', args: ['netns', 'exec', netns, inStack.command, ...inStack.args] };
}

/** Starts HAProxy 2.6 as root in master-worker mode with a master CLI socket; resolves once a worker runs. */
export async function startHaproxy(options: HaproxyOptions): Promise<HaproxyInstance> {
  const group = ProcessGroup.create('haproxy');
  try {
    let configPath = options.configPath;
    if (options.config !== undefined) configPath = group.writeFile('haproxy.cfg', options.config);
    if (!configPath) throw new Error('startHaproxy: give `configPath` or `config`');
    const statsSocket = /^\s*stats\s+socket\s+(\S+)/m.exec(readFileSync(configPath, 'utf8'))?.[1];
    const masterSocket = join(group.dir, 'master.sock');
    const proc = group.spawn({
      name: 'haproxy',
      ...haproxyCommandLine(['-W', '-db', '-S', `${masterSocket},mode,600`, '-f', configPath], options.netns),
    });
    // During a reload the master re-executes itself and its CLI socket refuses connections for a
    // moment: a query then is retried (bounded) instead of failing the test that asked.
    const master = async (command: string): Promise<string> => {
      const deadline = Date.now() + 3000;
      for (;;) {
        try {
          return await haproxyCommand(masterSocket, command);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if ((code !== 'ECONNREFUSED' && code !== 'ENOENT') || Date.now() >= deadline) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const showProc = async (): Promise<HaproxyProc[]> => parseShowProc(await master('show proc'));
    const workerPids = async (): Promise<number[]> =>
      (await showProc()).filter((p) => p.type === 'worker' && !p.isOld).map((p) => p.pid);
    const diagnose = (): string => `haproxy log:\n${group.logTail('haproxy', 30)}`;
    const assertRunning = (): void => {
      if (!proc.isRunning()) throw new WaitAbortedError('haproxy master exited');
    };
    await waitFor(
      async () => {
        assertRunning();
        return (await workerPids()).length > 0;
      },
      { timeoutMs: options.timeoutMs ?? 15_000, intervalMs: 100, what: 'haproxy worker to start', diagnose },
    );
    return {
      pid: proc.pid,
      configPath,
      masterSocket,
      ...(statsSocket ? { statsSocket } : {}),
      group,
      workerPids,
      master,
      runtime(command) {
        if (!statsSocket) throw new Error(`haproxy: no "stats socket" line in ${configPath}`);
        return haproxyCommand(statsSocket, command);
      },
      async reload(opts = {}) {
        const procs = await showProc();
        const before = new Set(procs.filter((p) => p.type === 'worker').map((p) => p.pid));
        const failedBefore = procs.find((p) => p.type === 'master')?.failedReloads ?? 0;
        process.kill(proc.pid, 'SIGUSR2');
        return waitFor(
          async () => {
            assertRunning();
            const now = await showProc();
            const failed = now.find((p) => p.type === 'master')?.failedReloads ?? 0;
            if (failed > failedBefore)
              throw new WaitAbortedError(`haproxy reported a failed reload (${failed})`);
            return now.find((p) => p.type === 'worker' && !p.isOld && !before.has(p.pid) && isAlive(p.pid))
              ?.pid;
          },
          {
            timeoutMs: opts.timeoutMs ?? 10_000,
            intervalMs: 100,
            what: 'a new haproxy worker after SIGUSR2',
            diagnose,
          },
        );
      },
      logTail(lines = 40) {
        return group.logTail('haproxy', lines);
      },
      async stopProcess() {
        await group.stop('haproxy', 'SIGTERM', 5_000);
      },
      async kill9() {
        signalTree(proc.pid, 'SIGKILL');
        await group.stop('haproxy', 'SIGKILL', 5_000);
      },
      async stop() {
        await group.cleanup();
      },
    };
  } catch (error) {
    await group.cleanup();
    throw error;
  }
}

/** Options of {@link patroniHaproxyConfig}. */
export interface PatroniHaproxyConfigOptions {
  /** Backend servers: name, PostgreSQL port, Patroni REST port (all on 127.0.0.1). */
  nodes: { name: string; pgPort: number; apiPort: number }[];
  /** Port of the write listener (`listen primary`). */
  primaryPort: number;
  /** Port of an optional read listener checking `GET /replica`. */
  replicaPort?: number;
  /** Path of the admin stats socket (runtime API). */
  statsSocket: string;
  /** `inter` of the checks (default 3s as in Patroni's docs; tests often use 500ms). */
  checkInter?: string;
  /** `timeout connect` (default 2s). */
  timeoutConnect?: string;
}

/** The HAProxy config Patroni's documentation recommends (HTTP checks on the REST API), on loopback. */
export function patroniHaproxyConfig(o: PatroniHaproxyConfigOptions): string {
  const inter = o.checkInter ?? '3s';
  const servers = (indent: string): string =>
    o.nodes
      .map((n) => `${indent}server ${n.name} 127.0.0.1:${n.pgPort} maxconn 100 check port ${n.apiPort}`)
      .join('\n');
  const lines = [
    'global',
    '    maxconn 500',
    `    stats socket ${o.statsSocket} mode 600 level admin expose-fd listeners`,
    '    stats timeout 30s',
    '',
    'defaults',
    '    mode tcp',
    '    log global',
    '    retries 2',
    `    timeout connect ${o.timeoutConnect ?? '2s'}`,
    '    timeout client 30m',
    '    timeout server 30m',
    '    timeout check 2s',
    '',
    'listen primary',
    `    bind 127.0.0.1:${o.primaryPort}`,
    '    option httpchk GET /primary',
    '    http-check expect status 200',
    `    default-server inter ${inter} fall 3 rise 2 on-marked-down shutdown-sessions`,
    servers('    '),
  ];
  if (o.replicaPort !== undefined) {
    lines.push(
      '',
      'listen replicas',
      `    bind 127.0.0.1:${o.replicaPort}`,
      '    balance roundrobin',
      '    option httpchk GET /replica',
      '    http-check expect status 200',
      `    default-server inter ${inter} fall 3 rise 2 on-marked-down shutdown-sessions`,
      servers('    '),
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Starts HAProxy on {@link patroniHaproxyConfig} for `nodes` (the REST-polling listener tests and benches
 * compare the router with): a free write port, the stats socket `admin<suffix>.sock` in `dir`.
 */
export async function startPollingHaproxy(
  dir: string,
  nodes: PatroniHaproxyConfigOptions['nodes'],
  opts: { suffix: string; checkInter?: string; timeoutConnect?: string },
): Promise<{ haproxy: HaproxyInstance; primaryPort: number; statsSocket: string }> {
  const primaryPort = await freePort();
  const statsSocket = `${dir}/admin${opts.suffix}.sock`;
  const haproxy = await startHaproxy({
    config: patroniHaproxyConfig({
      nodes,
      primaryPort,
      statsSocket,
      ...(opts.checkInter ? { checkInter: opts.checkInter } : {}),
      ...(opts.timeoutConnect ? { timeoutConnect: opts.timeoutConnect } : {}),
    }),
  });
  return { haproxy, primaryPort, statsSocket };
}

/**
 * Where a router's HAProxy target keeps its files in `dir`: config `haproxy<suffix>.cfg`, runtime API
 * socket `admin<suffix>.sock`, state file, and the reload by USR2 to the pid in `haproxy<suffix>.pid`
 * (the lab writes it). A suffix (`-a`) lets several HAProxy instances share one dir.
 */
export function haproxyTargetFiles(dir: string, suffix = ''): Record<string, string> {
  return {
    output: `${dir}/haproxy${suffix}.cfg`,
    runtime_api: `${dir}/admin${suffix}.sock`,
    state_file: `${dir}/haproxy${suffix}.state`,
    reload: `kill -USR2 $(cat ${dir}/haproxy${suffix}.pid)`,
  };
}

/** The lab's HAProxy settings: 1 s checks (fall 2, rise 2) and a 300 ms connect timeout. */
export const LAB_HAPROXY_SETTINGS: Readonly<Record<string, unknown>> = {
  timeouts: { connect: '300ms' },
  checks: { inter: '1s', fall: 2, rise: 2 },
};

/**
 * The router's `targets.haproxy` section for a lab HAProxy whose files live in `dir`
 * ({@link haproxyTargetFiles}) with {@link LAB_HAPROXY_SETTINGS}; `frontends` maps each cluster to its
 * listen addresses.
 */
export function routerHaproxyTarget(
  dir: string,
  frontends: Record<string, { primary: string; replica?: string }>,
): Record<string, unknown> {
  return { ...haproxyTargetFiles(dir), ...LAB_HAPROXY_SETTINGS, frontends };
}
