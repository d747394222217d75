// Shared by the VIP integration test and bench/vip-failover: a Patroni-like member writing keys the way
// Patroni's etcd3 backend does, a sampler of which hosts hold the VIP, and client-side probes.
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Etcd3, Lease } from 'etcd3';
import { stringify } from 'yaml';
import { holdsAddress, type Lab, type LabNode } from '../../harness/netns.js';

const run = promisify(execFile);

/** What one lab host's router config holds besides its etcd (`dcs`) and its scope. */
export interface VipHostConfig {
  /** Extra `dcs:` settings (type and hosts are the lab's etcd). */
  dcs?: Record<string, unknown>;
  /** Extra top-level settings (`api`, `log`). */
  router?: Record<string, unknown>;
  /** The `targets.vip` section. */
  vip: Record<string, unknown>;
}

/**
 * Prepares every host of a VIP lab: writes the scope's Patroni config key, each host's router config
 * (`<name>.yml` in the lab folder, etcd on the bridge at `<subnet>.254`), starts its service (`serve`)
 * and registers a Patroni member for it. Returns the members by host name.
 */
export async function prepareVipHosts(
  lab: Lab,
  etcd: Etcd3,
  opts: {
    scope: string;
    subnet: string;
    names: readonly string[];
    patroni: { ttl: number; loop_wait: number; retry_timeout: number };
    config: (name: string) => VipHostConfig;
    serve: (host: LabNode, name: string) => void;
  },
): Promise<Map<string, PatroniMember>> {
  await etcd.put(`/service/${opts.scope}/config`).value(JSON.stringify(opts.patroni));
  const members = new Map<string, PatroniMember>();
  for (const name of opts.names) {
    const host = lab.hosts.find((h) => h.ns.endsWith(`-${name}`)) as LabNode;
    const spec = opts.config(name);
    const config = {
      dcs: { type: 'etcd3', hosts: [`${opts.subnet}.254:2379`], ...spec.dcs },
      clusters: [opts.scope],
      ...spec.router,
      targets: { vip: spec.vip },
    };
    writeFileSync(join(lab.dir, `${name}.yml`), stringify(config));
    opts.serve(host, name);
    const member = new PatroniMember(etcd, opts.scope, name, host.ip, opts.patroni.ttl);
    await member.register();
    members.set(name, member);
  }
  return members;
}

/** One Patroni member: a lease (TTL = ttl), its member key on it, the leader key by create-only txn. */
export class PatroniMember {
  private lease: Lease | null = null;

  constructor(
    private readonly etcd: Etcd3,
    private readonly scope: string,
    readonly name: string,
    private readonly ip: string,
    private readonly ttl: number,
  ) {}

  private key(rel: string): string {
    return `/service/${this.scope}/${rel}`;
  }

  private memberValue(role: 'primary' | 'replica'): string {
    return JSON.stringify({
      conn_url: `postgres://${this.ip}:5432/postgres`,
      api_url: `http://${this.ip}:8008/patroni`,
      state: 'running',
      role: role === 'primary' ? 'master' : 'replica',
      version: '3.0.2',
      xlog_location: 67108864,
      timeline: 1,
    });
  }

  /** A fresh lease and member key (Patroni re-grants when its lease is gone). */
  async register(): Promise<void> {
    const old = this.lease;
    this.lease = null;
    if (old) await old.revoke().catch(() => undefined);
    const lease = this.etcd.lease(this.ttl, { autoKeepAlive: true });
    lease.on('lost', () => undefined);
    await lease.grant();
    this.lease = lease;
    await lease.put(this.key(`members/${this.name}`)).value(this.memberValue('replica'));
  }

  /** Patroni's `_do_attempt_to_acquire_leader`: txn CREATE(leader)==0 → put(leader=name, lease). */
  async acquire(): Promise<boolean> {
    const lease = this.lease;
    if (!lease) throw new Error(`${this.name} has no lease: register() first`);
    const result = await this.etcd
      .if(this.key('leader'), 'Create', '==', 0)
      .then(lease.put(this.key('leader')).value(this.name))
      .commit();
    if (result.succeeded)
      await lease.put(this.key(`members/${this.name}`)).value(this.memberValue('primary'));
    return result.succeeded;
  }

  /**
   * The leader key overwritten in one write on this member's lease, no delete before it and no member-key
   * change (neither Patroni nor the agent does this; a router must not depend on a delete between).
   */
  async overwrite(): Promise<void> {
    const lease = this.lease;
    if (!lease) throw new Error(`${this.name} has no lease: register() first`);
    await lease.put(this.key('leader')).value(this.name);
  }

  /** Patroni 4.x release: txn VALUE(leader)==name → delete; then the member key shows a replica. */
  async release(): Promise<void> {
    await this.etcd
      .if(this.key('leader'), 'Value', '==', this.name)
      .then(this.etcd.delete().key(this.key('leader')))
      .commit();
    if (this.lease) await this.lease.put(this.key(`members/${this.name}`)).value(this.memberValue('replica'));
  }

  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    if (lease) await lease.revoke().catch(() => undefined);
  }
}

interface Sample {
  readonly t: number;
  readonly holders: readonly string[];
  readonly isInjected: boolean;
}

/** Reads every host's local routes every 10 ms (no exec) and keeps the samples. */
export class HoldSampler {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private windowStart = 0;
  private isPaused = false;

  constructor(
    private readonly hosts: ReadonlyArray<{ name: string; pid: number }>,
    private readonly address: string,
    private readonly intervalMs = 10,
  ) {}

  holdersNow(): string[] {
    return this.hosts.filter((h) => holdsAddress(h.pid, this.address)).map((h) => h.name);
  }

  start(): void {
    this.timer = setInterval(() => {
      this.samples.push({ t: Date.now(), holders: this.holdersNow(), isInjected: this.isPaused });
    }, this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Samples from now on are judged by `doubleHolds()` and `gaps()`. */
  resetWindow(): void {
    this.windowStart = Date.now();
  }

  /** While paused, samples are kept but flagged as a fault the test injected on purpose. */
  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    this.isPaused = false;
  }

  private window(): Sample[] {
    return this.samples.filter((s) => s.t >= this.windowStart && !s.isInjected);
  }

  doubleHolds(): Sample[] {
    return this.window().filter((s) => s.holders.length > 1);
  }

  gaps(): Sample[] {
    return this.window().filter((s) => s.holders.length === 0);
  }

  windowSamples(): number {
    return this.window().length;
  }

  allDoubleHolds(): Sample[] {
    return this.samples.filter((s) => !s.isInjected && s.holders.length > 1);
  }

  totalSamples(): number {
    return this.samples.length;
  }
}

/**
 * The MAC in a namespace's ARP table for an IPv4 address, read from `/proc/<pid>/net/arp` of a process in
 * it (no exec: cheap enough to poll every millisecond); null when absent or incomplete.
 */
export function arpEntry(pid: number, address: string): string | null {
  for (const line of readFileSync(`/proc/${pid}/net/arp`, 'utf8').split('\n').slice(1)) {
    const [ip, , flags, mac] = line.trim().split(/\s+/);
    if (ip === address && flags !== '0x0' && mac !== undefined) return mac;
  }
  return null;
}

/** The MAC the client's neighbour table holds for `address`, or null. */
export async function clientNeighbour(lab: Lab, address: string): Promise<string | null> {
  const { stdout } = await run('ip', ['-n', lab.client.ns, '-j', 'neigh', 'show', address, 'dev', 'eth0'], {
    timeout: 2000,
  });
  const entries = JSON.parse(stdout || '[]') as Array<{ lladdr?: string }>;
  return entries[0]?.lladdr ?? null;
}

/** Opens a TCP connection from the client to address:port and returns what the server said (its host name). */
export async function clientConnect(lab: Lab, address: string, port: number, timeoutS = 1): Promise<string> {
  try {
    const { stdout } = await run(
      'ip',
      [
        'netns',
        'exec',
        lab.client.ns,
        'socat',
        `-T${timeoutS}`,
        '-',
        address.includes(':')
          ? `TCP6:[${address}]:${port},connect-timeout=${timeoutS}`
          : `TCP:${address}:${port},connect-timeout=${timeoutS}`,
      ],
      { timeout: (timeoutS + 2) * 1000 },
    );
    return stdout.trim();
  } catch (err) {
    return `(no answer: ${(err as Error).message.split('\n')[0]})`;
  }
}

/** The router's /status document, read inside its namespace (api.listen 127.0.0.1:8009) with socat. */
export async function routerStatus(lab: Lab, ns: string): Promise<RouterStatusDoc> {
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, 'socat', '-t2', '-T2', '-', 'TCP:127.0.0.1:8009,connect-timeout=1'],
    {
      stdio: ['pipe', 'pipe', 'ignore'],
    },
  );
  const chunks: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => chunks.push(b));
  child.stdin.on('error', () => undefined); // socat gone: connection refused, router not up yet
  child.stdin.end('GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await new Promise((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  const text = Buffer.concat(chunks).toString();
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return JSON.parse(body) as RouterStatusDoc;
}

export interface RouterStatusDoc {
  dcs: { connected: boolean; seconds_since_contact: number | null };
  targets: {
    vip?: {
      is_held: boolean;
      arp_sender: string;
      last_summary: string;
      dcs_state: string | null;
      reason: string | null;
      counters: Record<string, number>;
    };
  };
}
