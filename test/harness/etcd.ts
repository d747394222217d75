import { after, before } from 'node:test';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, type RunResult } from './exec.js';
import { freePorts } from './ports.js';
import { ProcessGroup } from './processes.js';
import { makeCertificates, type TestCertificates } from './tls.js';
import { waitFor } from './wait.js';

/** Options of {@link startEtcd}. */
export interface EtcdOptions {
  /** 1 (default) or 3 members. */
  members?: 1 | 3;
  /** Client TLS (peers stay plain http). */
  tls?: boolean;
  /**
   * With `tls`: require a client certificate signed by the test CA (default true). Set false with
   * `auth` when Patroni 3.0.2 must connect: etcd 3.4's gRPC gateway, which Patroni uses, rejects
   * gateway requests that carry a client certificate once auth is enabled ("CommonName of client
   * sending a request against gateway will be ignored").
   */
  clientCertAuth?: boolean;
  /** Enable etcd auth with user `root` and this password (username must be "root"). */
  auth?: { username: string; password: string };
  /** Also serve the v2 API (`--enable-v2`; vip-manager 1.0.2 needs it). */
  enableV2?: boolean;
  /** Startup timeout (default 30 s). */
  timeoutMs?: number;
}

/** Client-side TLS files for talking to a TLS etcd. */
export interface EtcdClientTls {
  ca: string;
  cert: string;
  key: string;
}

/** One etcd member. */
export interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  /** pid while running, else undefined. */
  pid(): number | undefined;
}

/** A running etcd cluster on loopback. Every method is bounded in time. */
export interface EtcdCluster {
  /** `127.0.0.1:<port>` per member (what Patroni's `etcd3.hosts` and most clients want). */
  endpoints: string[];
  /** `http(s)://127.0.0.1:<port>` per member. */
  clientUrls: string[];
  protocol: 'http' | 'https';
  /** True when etcd requires a client certificate (`tls` and `clientCertAuth` not false). */
  clientCertAuth: boolean;
  /** Client certificate files when started with `tls: true`. */
  tls?: EtcdClientTls;
  /** All certificates (incl. server) when started with `tls: true`. */
  certificates?: TestCertificates;
  auth?: { username: string; password: string };
  members: EtcdMember[];
  group: ProcessGroup;
  /** Runs `etcdctl` (v3 API) against all endpoints with TLS and root credentials; returns stdout; throws on failure. */
  etcdctl(
    args: string[],
    options?: { withAuth?: boolean; endpoints?: string[]; timeoutMs?: number },
  ): Promise<string>;
  /** Same as etcdctl but never throws; for negative tests. */
  etcdctlResult(
    args: string[],
    options?: { withAuth?: boolean; withCert?: boolean; endpoints?: string[] },
  ): Promise<RunResult>;
  put(key: string, value: string): Promise<void>;
  /** Value of `key`, or undefined if absent. */
  get(key: string): Promise<string | undefined>;
  /** Current store revision. */
  revision(): Promise<number>;
  /** Compacts to the current revision; returns it. */
  compact(): Promise<number>;
  /** SIGTERM (or `signal`) member `i` and wait for it to exit. */
  stopMember(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts member `i` again with its data dir and waits until it answers /health. */
  startMember(i: number): Promise<void>;
  /** SIGSTOP / SIGCONT every member (simulates an etcd stall). */
  pause(): void;
  resume(): void;
  /** SIGKILL every member (data kept; see restart). */
  kill(): Promise<void>;
  /** Starts every stopped member and waits for them. */
  restart(): Promise<void>;
  /** Last lines of member `i`'s log. */
  logTail(i: number, lines?: number): string;
  /** Kills everything and removes the temp dir; idempotent. */
  stop(): Promise<void>;
}

/** GET `<url>/health`; true on `"health":"true"`. Bounded to 2 s. */
function healthy(url: string, tls: TestCertificates | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const request = tls ? httpsRequest : httpRequest;
    const req = request(
      `${url}/health`,
      {
        timeout: 2_000,
        ...(tls
          ? { ca: readFileSync(tls.ca), cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey) }
          : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
        res.on('error', () => resolve(false));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * Starts an etcd 3.4 cluster (1 or 3 members) on free loopback ports in a temp dir, with fast raft
 * timing (heartbeat 50 ms, election 500 ms) and `--unsafe-no-fsync`. Resolves once every member
 * answers /health (and, with `auth`, once auth is enabled). On failure cleans up and throws with log tails.
 */
export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdCluster> {
  const count = options.members ?? 1;
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (options.auth && options.auth.username !== 'root') {
    throw new Error(
      `startEtcd: auth.username must be "root" (etcd needs root to enable auth), got "${options.auth.username}"`,
    );
  }
  const group = ProcessGroup.create(`etcd${count}`);
  try {
    const ports = await freePorts(count * 2);
    const protocol = options.tls ? 'https' : 'http';
    const clientCertAuth = Boolean(options.tls) && options.clientCertAuth !== false;
    const certificates = options.tls ? await makeCertificates(group.mkdir('tls')) : undefined;
    const members: EtcdMember[] = Array.from({ length: count }, (_, i) => {
      const name = `etcd${i}`;
      return {
        name,
        clientPort: ports[2 * i] as number,
        peerPort: ports[2 * i + 1] as number,
        dataDir: join(group.dir, name),
        pid: () => group.pid(name),
      };
    });
    const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
    const token = `switchyard-${process.pid}-${ports[0]}`;
    const clientUrls = members.map((m) => `${protocol}://127.0.0.1:${m.clientPort}`);
    const endpoints = members.map((m) => `127.0.0.1:${m.clientPort}`);
    const tls = certificates
      ? { ca: certificates.ca, cert: certificates.clientCert, key: certificates.clientKey }
      : undefined;

    const spawnMember = (i: number): void => {
      const m = members[i];
      if (!m) throw new Error(`etcd: no member ${i} (have ${members.length})`);
      const url = clientUrls[i] as string;
      group.spawn({
        name: m.name,
        command: '/usr/bin/etcd',
        args: [
          `--name=${m.name}`,
          `--data-dir=${m.dataDir}`,
          `--listen-client-urls=${url}`,
          `--advertise-client-urls=${url}`,
          `--listen-peer-urls=http://127.0.0.1:${m.peerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${m.peerPort}`,
          `--initial-cluster=${initialCluster}`,
          '--initial-cluster-state=new',
          `--initial-cluster-token=${token}`,
          '--heartbeat-interval=50',
          '--election-timeout=500',
          '--snapshot-count=10000',
          '--unsafe-no-fsync',
          '--logger=zap',
          '--log-level=warn',
          ...(options.enableV2 ? ['--enable-v2=true'] : []),
          ...(certificates
            ? [`--cert-file=${certificates.serverCert}`, `--key-file=${certificates.serverKey}`]
            : []),
          ...(certificates && clientCertAuth
            ? ['--client-cert-auth', `--trusted-ca-file=${certificates.ca}`]
            : []),
        ],
      });
    };
    const waitMember = (i: number, ms: number): Promise<boolean> =>
      waitFor(() => healthy(clientUrls[i] as string, certificates), {
        timeoutMs: ms,
        intervalMs: 100,
        what: `etcd member ${i} (${clientUrls[i]}) to report healthy`,
        diagnose: () => group.logTail(members[i]?.name ?? '', 30),
      });

    const etcdctlResult: EtcdCluster['etcdctlResult'] = (args, opts = {}) => {
      const withAuth = opts.withAuth ?? true;
      const withCert = opts.withCert ?? true;
      const flags = [
        `--endpoints=${(opts.endpoints ?? clientUrls).join(',')}`,
        '--dial-timeout=3s',
        '--command-timeout=5s',
      ];
      if (certificates) {
        flags.push(`--cacert=${certificates.ca}`);
        if (withCert) flags.push(`--cert=${certificates.clientCert}`, `--key=${certificates.clientKey}`);
      }
      if (options.auth && withAuth) flags.push(`--user=${options.auth.username}:${options.auth.password}`);
      return run('/usr/bin/etcdctl', [...flags, ...args], {
        env: { ETCDCTL_API: '3' },
        timeoutMs: 15_000,
        reject: false,
      });
    };
    const etcdctl: EtcdCluster['etcdctl'] = async (args, opts = {}) => {
      const result = await etcdctlResult(args, opts);
      if (result.exitCode !== 0) {
        throw new Error(
          `etcdctl ${args.join(' ')} failed (${result.timedOut ? 'timeout' : `exit ${result.exitCode}`}): ${result.stderr.trim()}`,
        );
      }
      return result.stdout;
    };
    const revision = async (): Promise<number> => {
      const out = JSON.parse(await etcdctl(['get', '-w', 'json', '/switchyard-harness/revision-probe'])) as {
        header?: { revision?: number };
      };
      const rev = out.header?.revision;
      if (typeof rev !== 'number') throw new Error(`etcd: no revision in etcdctl get output`);
      return rev;
    };

    for (let i = 0; i < count; i++) spawnMember(i);
    await Promise.all(members.map((_, i) => waitMember(i, timeoutMs)));
    if (options.auth) {
      const { password } = options.auth;
      await etcdctl(['user', 'add', 'root', `--new-user-password=${password}`, '--interactive=false'], {
        withAuth: false,
      });
      await etcdctl(['user', 'grant-role', 'root', 'root'], { withAuth: false }).catch(() => undefined);
      await etcdctl(['auth', 'enable'], { withAuth: false });
    }

    const cluster: EtcdCluster = {
      endpoints,
      clientUrls,
      protocol,
      clientCertAuth,
      ...(tls ? { tls } : {}),
      ...(certificates ? { certificates } : {}),
      ...(options.auth ? { auth: { ...options.auth } } : {}),
      members,
      group,
      etcdctl,
      etcdctlResult,
      async put(key, value) {
        await etcdctl(['put', key, value]);
      },
      async get(key) {
        const out = JSON.parse(await etcdctl(['get', '-w', 'json', key])) as { kvs?: { value: string }[] };
        const kv = out.kvs?.[0];
        return kv ? Buffer.from(kv.value, 'base64').toString('utf8') : undefined;
      },
      revision,
      async compact() {
        const rev = await revision();
        await etcdctl(['compact', String(rev), '--physical']);
        return rev;
      },
      async stopMember(i, signal = 'SIGTERM') {
        await group.stop(members[i]?.name ?? `etcd${i}`, signal, 10_000);
      },
      async startMember(i) {
        spawnMember(i);
        await waitMember(i, timeoutMs);
      },
      pause() {
        for (const m of members) group.signal(m.name, 'SIGSTOP');
      },
      resume() {
        for (const m of members) group.signal(m.name, 'SIGCONT');
      },
      async kill() {
        await Promise.all(members.map((m) => group.stop(m.name, 'SIGKILL', 5_000)));
      },
      async restart() {
        const stopped = members.map((m, i) => (group.isRunning(m.name) ? -1 : i)).filter((i) => i >= 0);
        for (const i of stopped) spawnMember(i);
        await Promise.all(stopped.map((i) => waitMember(i, timeoutMs)));
      },
      logTail(i, lines = 40) {
        return group.logTail(members[i]?.name ?? '', lines);
      },
      async stop() {
        for (const m of members) group.signal(m.name, 'SIGCONT');
        await group.cleanup();
      },
    };
    return cluster;
  } catch (error) {
    await group.cleanup();
    throw error;
  }
}

/**
 * One single-member etcd for a test file: started before its tests with a client of the caller's making
 * (`connect` gets the endpoints), and after them the client closed and etcd stopped. Read `lab.etcd` and
 * `lab.client` inside the tests.
 */
export function etcdForFile<C extends { close(): void }>(
  connect: (endpoints: string[]) => Promise<C>,
): { readonly etcd: EtcdCluster; readonly client: C } {
  let etcd: EtcdCluster | undefined;
  let client: C | undefined;
  before(async () => {
    etcd = await startEtcd();
    client = await connect(etcd.endpoints);
  });
  after(async () => {
    client?.close();
    await etcd?.stop();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('etcdForFile: used outside the tests of its file');
    return v;
  };
  return {
    get etcd() {
      return started(etcd);
    },
    get client() {
      return started(client);
    },
  };
}
