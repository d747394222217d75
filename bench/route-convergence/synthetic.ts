import { existsSync, writeFileSync } from 'node:fs';
import { ProcessGroup, startEtcd, startHaproxy, waitFor } from '../../test/harness/index.js';
import type { EtcdCluster, HaproxyInstance } from '../../test/harness/index.js';
import { waitApplied } from '../../test/harness/router.js';
import { Etcd3 } from 'etcd3';

/** Where a synthetic member says it runs (conn_url / api_url). */
export interface MemberAddress {
  port: number;
  apiPort: number;
}

interface MemberState {
  name: string;
  address: MemberAddress;
  lease: string;
  role: 'master' | 'replica';
  xlog: number;
}

interface ClusterState {
  scope: string;
  leader: string | null;
  members: MemberState[];
}

/**
 * Synthetic Patroni clusters in etcd, written the way Patroni 3.x writes them with one etcd3 client:
 * `config` and `initialize`, one lease per member (member keys carry it), the leader key taken by a
 * create-only transaction on the holder's lease and released by deleting it. Member JSON is Patroni
 * 3.x's (`role: master`). Leases are long (`ttlSeconds`) because nothing refreshes them: the router
 * never looks at lease expiry, only at key presence.
 */
export class SyntheticClusters {
  readonly client: Etcd3;
  private readonly clusters = new Map<string, ClusterState>();
  private counter = 0;
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly frozen = new Set<string>();

  constructor(
    endpoints: readonly string[],
    private readonly namespace: string,
    private readonly ttlSeconds = 3600,
  ) {
    this.client = new Etcd3({ hosts: [...endpoints] });
  }

  private key(scope: string, k: string): string {
    return `${this.namespace}/${scope}/${k}`;
  }

  scopes(): string[] {
    return [...this.clusters.keys()];
  }

  leaderOf(scope: string): string | null {
    return this.clusters.get(scope)?.leader ?? null;
  }

  memberNames(scope: string): string[] {
    return this.clusters.get(scope)?.members.map((m) => m.name) ?? [];
  }

  private memberJson(m: MemberState): string {
    return JSON.stringify({
      conn_url: `postgres://127.0.0.1:${m.address.port}/postgres`,
      api_url: `http://127.0.0.1:${m.address.apiPort}/patroni`,
      state: 'running',
      role: m.role,
      version: '3.0.2',
      xlog_location: m.xlog,
      timeline: 1,
    });
  }

  /** Creates one cluster whose first member leads. */
  async create(scope: string, addresses: readonly MemberAddress[]): Promise<void> {
    const members: MemberState[] = [];
    for (const [i, address] of addresses.entries()) {
      const lease = await this.client.lease(this.ttlSeconds, { autoKeepAlive: false }).grant();
      members.push({
        name: `pg${i + 1}`,
        address,
        lease,
        role: i === 0 ? 'master' : 'replica',
        xlog: 50_000_000,
      });
    }
    const state: ClusterState = { scope, leader: null, members };
    this.clusters.set(scope, state);
    await this.client
      .put(this.key(scope, 'config'))
      .value(JSON.stringify({ ttl: 10, loop_wait: 2, retry_timeout: 4, maximum_lag_on_failover: 1048576 }));
    await this.client
      .put(this.key(scope, 'initialize'))
      .value(String(7_000_000_000_000_000_000n + BigInt(this.clusters.size)));
    for (const m of members)
      await this.client
        .put(this.key(scope, `members/${m.name}`))
        .value(this.memberJson(m))
        .lease(m.lease);
    await this.takeLeader(scope, 'pg1');
  }

  /** The holder releases the leader key (Patroni deletes it on a clean demotion). */
  async releaseLeader(scope: string): Promise<void> {
    const c = this.clusters.get(scope) as ClusterState;
    await this.client.delete().key(this.key(scope, 'leader'));
    c.leader = null;
  }

  /**
   * `name` takes the leader key with a create-only transaction on its lease, its member key saying
   * `role: master` in the same transaction (one etcd revision: the leader-key change is one event).
   */
  async takeLeader(scope: string, name: string): Promise<void> {
    const c = this.clusters.get(scope) as ClusterState;
    const m = c.members.find((x) => x.name === name) as MemberState;
    m.role = 'master';
    const ok = await this.client
      .if(this.key(scope, 'leader'), 'Create', '==', 0)
      .then(
        this.client.put(this.key(scope, 'leader')).value(name).lease(m.lease),
        this.client
          .put(this.key(scope, `members/${name}`))
          .value(this.memberJson(m))
          .lease(m.lease),
      )
      .commit();
    if (!ok.succeeded)
      throw new Error(`${scope}: leader key already held; create-only transaction for ${name} failed`);
    c.leader = name;
  }

  /** Sets a member's role (an old primary rejoining as a replica). */
  async setRole(scope: string, name: string, role: 'master' | 'replica'): Promise<void> {
    const c = this.clusters.get(scope) as ClusterState;
    const m = c.members.find((x) => x.name === name) as MemberState;
    m.role = role;
    await this.client
      .put(this.key(scope, `members/${name}`))
      .value(this.memberJson(m))
      .lease(m.lease);
  }

  /**
   * Stops churn on a cluster and waits for its churn writes in flight, so a stale member value cannot
   * land after a leader change. `thaw` resumes it.
   */
  async freeze(scope: string): Promise<void> {
    this.frozen.add(scope);
    await this.inflight.get(scope)?.catch(() => undefined);
  }

  thaw(scope: string): void {
    this.frozen.delete(scope);
  }

  /**
   * One churn write: the member moves its `xlog_location` forward, as every Patroni loop does. All members
   * follow one counter, so replica lag stays far under 1 MB and the route view does not change.
   */
  churnOne(): Promise<unknown> | null {
    const scopes = this.scopes();
    const scope = scopes[Math.floor(Math.random() * scopes.length)] as string;
    if (this.frozen.has(scope) || this.inflight.has(scope)) return null;
    const c = this.clusters.get(scope) as ClusterState;
    const m = c.members[Math.floor(Math.random() * c.members.length)] as MemberState;
    m.xlog = 50_000_000 + ++this.counter * 16;
    const p = this.client
      .put(this.key(scope, `members/${m.name}`))
      .value(this.memberJson(m))
      .lease(m.lease)
      .exec()
      .finally(() => this.inflight.delete(scope));
    this.inflight.set(scope, p);
    return p;
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Member churn at `rate` writes per second, in ticks of 10 ms, bounded by `maxMs`. `stop()` returns the
 * achieved rate.
 */
export class Churn {
  private isStopped = false;
  private done: Promise<{ writes: number; errors: number; seconds: number }> | null = null;

  constructor(
    private readonly keys: SyntheticClusters,
    private readonly rate: number,
    private readonly maxMs: number,
  ) {}

  start(): this {
    this.done = this.loop();
    return this;
  }

  async stop(): Promise<{ writes: number; errors: number; perSecond: number }> {
    this.isStopped = true;
    const r = (await this.done) as { writes: number; errors: number; seconds: number };
    return { writes: r.writes, errors: r.errors, perSecond: r.writes / r.seconds };
  }

  private async loop(): Promise<{ writes: number; errors: number; seconds: number }> {
    const started = Date.now();
    let writes = 0;
    let errors = 0;
    let issued = 0;
    const pending = new Set<Promise<unknown>>();
    while (!this.isStopped && Date.now() - started < this.maxMs) {
      const owed = Math.min(200, Math.floor((this.rate * (Date.now() - started)) / 1000) - issued);
      for (let i = 0; i < owed; i++) {
        const p = this.keys.churnOne();
        if (!p) continue;
        issued++;
        const tracked = p.then(
          () => writes++,
          () => errors++,
        );
        pending.add(tracked);
        void tracked.finally(() => pending.delete(tracked));
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(pending);
    return { writes, errors, seconds: (Date.now() - started) / 1000 };
  }
}

/**
 * What the synthetic parts run on: etcd, a process group, synthetic clusters under `namespace`, and the
 * HAProxy started on the router's file.
 */
export class SyntheticBed {
  haproxy: HaproxyInstance | undefined;

  private constructor(
    readonly etcd: EtcdCluster,
    readonly group: ProcessGroup,
    readonly keys: SyntheticClusters,
  ) {}

  static async start(name: string, namespace: string): Promise<SyntheticBed> {
    const etcd = await startEtcd();
    return new SyntheticBed(
      etcd,
      ProcessGroup.create(name),
      new SyntheticClusters(etcd.clientUrls, namespace),
    );
  }

  /**
   * Waits for the router (API `api`) to write `haproxy.cfg` in the group's dir, starts HAProxy on it (its
   * pid in `haproxy.pid` for the router's reload) and waits until the router applied.
   */
  async startHaproxy(api: string, o: { startMs?: number; appliedMs: number }): Promise<HaproxyInstance> {
    const dir = this.group.dir;
    await waitFor(() => existsSync(`${dir}/haproxy.cfg`), {
      what: 'router wrote haproxy.cfg',
      timeoutMs: 30_000,
    });
    this.haproxy = await startHaproxy({
      configPath: `${dir}/haproxy.cfg`,
      ...(o.startMs === undefined ? {} : { timeoutMs: o.startMs }),
    });
    writeFileSync(`${dir}/haproxy.pid`, String(this.haproxy.pid));
    await waitApplied(api, o.appliedMs);
    return this.haproxy;
  }

  async stop(): Promise<void> {
    this.keys.close();
    await this.group.cleanup();
    await this.haproxy?.stop();
    await this.etcd.stop();
  }
}
