import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Etcd3 } from 'etcd3';
import type { ClusterState } from '../src/cluster/index.js';
import { connectEtcd } from '../src/dcs/connect.js';
import { ClusterWriter } from '../src/dcs/cluster-writer.js';
import { watchKeys, type KeyWatch } from '../src/dcs/key-watch.js';
import { monotonicMs, type AgentLease } from '../src/dcs/lease.js';
import { SwitchyardError, describeError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import { createApiServer } from './api/server.js';
import { nodeView, type NodeView } from './api/view.js';
import type { AgentConfig } from './config/load.js';
import { ConfigReloader } from './config/reload.js';
import { decide } from './ha/decide.js';
import { buildSnapshot } from './ha/snapshot.js';
import { Executor } from './execute.js';
import { StallClock, memberValue, observePostgres, publishPromotion, type Observation } from './observe.js';
import { gatherPeerFacts } from './gather.js';
import { configurePeerTls } from './peers.js';
import { PgControl, dcsPgParameters } from './postgres/control.js';
import { PgQuery } from './postgres/query.js';
import { AgentApiImpl } from './api-impl.js';
import { LeaseKeeper } from './leadership/lease-keeper.js';
import { Leadership } from './leadership/leadership.js';
import { TimingKeeper, type Timing } from './leadership/timing.js';
import { HandoverPrep } from './leadership/handover-prep.js';
import { SyncModeKeeper } from './config/sync-mode.js';
import { TaskSlot, startBetweenCycles, type Task, type TaskStart } from './task.js';
import type { AgentPort } from './node-port.js';
import { CycleLoop } from './loop.js';
import { FencingWatchdog } from './watchdog.js';
import { closeServer, shutdownAgent } from './shutdown.js';
import { DownClock, HandoverWatch, PostmasterSentinel, droppedWatchKeys } from './wakeups.js';

/**
 * One agent, one PostgreSQL. Each cycle: renew the lease, read the cluster, look at PostgreSQL, decide (pure),
 * apply the steps, publish the member key (also right after a promotion), and log one sentence. Cycles run
 * every loop_wait, or sooner when the leader/failover/config keys change or the REST API asks.
 */
export class Agent implements AgentPort {
  readonly control: PgControl;
  /** The HA cycle's own connection (never shared with REST requests). */
  readonly query: PgQuery;
  /** The REST API's pool. */
  readonly apiQuery: PgQuery;
  readonly watchdog: FencingWatchdog;
  readonly leadership: Leadership;
  client!: Etcd3;
  writer!: ClusterWriter;
  #leases!: LeaseKeeper;
  executor!: Executor;
  server: Server | HttpsServer | null = null;
  /** SIGHUP and POST /reload: re-read the YAML, apply what can change live. */
  readonly reloader: ConfigReloader = new ConfigReloader(this);

  cluster: ClusterState | null = null;
  isDcsReachable = false;
  dcsLastSeen = 0;
  obs: Observation | null = null;
  lastSentence = 'starting';
  lastCycleAt = 0;
  failsafeLeaderAliveUntil = 0;
  readonly #stall = new StallClock();
  #keyWatch: KeyWatch | null = null;
  readonly #sentinel: PostmasterSentinel;
  readonly #handover = new HandoverWatch();
  readonly #pgDown = new DownClock();
  readonly #timing: TimingKeeper;
  readonly #syncMode: SyncModeKeeper;
  readonly #tasks: TaskSlot;
  /** The early part of a planned switchover (CHECKPOINT, the request's member answers): see HandoverPrep. */
  readonly handoverPrep: HandoverPrep;
  readonly #loop = new CycleLoop({
    cycle: () => this.cycle(),
    onError: (err) => this.#cycleFailed(err),
    sleepMs: (startedAt) => {
      const regular =
        Math.max(0, this.timing().loopWait * 1000 - (monotonicMs() - startedAt)) + (this.hasLock ? 0 : 100);
      return Math.min(
        regular,
        this.#handover.sleepMs(this.cluster, this.obs?.local ?? null, this.config.name),
      );
    },
  });

  constructor(
    readonly config: AgentConfig,
    readonly log: Logger,
  ) {
    this.control = new PgControl(config);
    this.query = new PgQuery(config, { max: 1, applicationName: 'switchyard-agent-ha' });
    this.apiQuery = new PgQuery(config, { max: 3, applicationName: 'switchyard-agent-api' });
    this.control.setDcsParameters(dcsPgParameters(config.bootstrapDcs));
    this.#timing = new TimingKeeper(log, config.bootstrapDcs);
    this.#syncMode = new SyncModeKeeper(log);
    this.#tasks = new TaskSlot(log, () => this.wake());
    this.handoverPrep = new HandoverPrep(() => this.apiQuery.exec('CHECKPOINT'));
    this.watchdog = new FencingWatchdog({ tokenFile: `${config.postgresql.dataDir}.watchdog` });
    this.#sentinel = new PostmasterSentinel(config, () => this.wake());
    this.leadership = new Leadership({
      lease: () => this.#leases?.lease ?? { id: null, ttlSeconds: this.#timing.current.ttl, aliveUntil: 0 },
      postgres: this.control,
      watchdog: this.watchdog,
      log,
    });
  }

  get hasLock(): boolean {
    return this.leadership.hasLock;
  }

  get failsafeActive(): boolean {
    return this.leadership.isFailsafeActive;
  }

  get ssn(): string {
    return this.executor?.ssn ?? '';
  }

  noteFailsafeLeaderAlive(until: number): void {
    this.failsafeLeaderAliveUntil = until;
  }

  /** ttl, loop_wait and retry_timeout in force: the last `/config` (or bootstrap.dcs) that passed the checks. */
  timing(): Timing {
    return this.#timing.current;
  }

  /** The agent's current etcd lease. */
  get lease(): AgentLease {
    return this.#leases.lease;
  }

  #requestTimeoutMs(): number {
    return Math.min(2000, this.timing().retryTimeout * 500);
  }

  isLeaderNow(): boolean {
    return this.leadership.isLeaderNow();
  }

  async start(): Promise<void> {
    this.client = await connectEtcd({
      ...this.config.etcd,
      requestTimeoutMs: this.#requestTimeoutMs(),
    });
    this.writer = new ClusterWriter(this.client, this.config.namespace, this.config.scope);
    // Joining an existing cluster: its /config ttl, not bootstrap.dcs, sets the lease TTL (etcd not
    // reachable yet: the loop retries; bootstrap.dcs timing until then).
    await this.writer.read().then(
      (r) => this.#setCluster(r.state),
      () => undefined,
    );
    const t = this.timing();
    this.#leases = new LeaseKeeper({
      client: this.client,
      log: this.log,
      ttlSeconds: t.ttl,
      requestTimeoutMs: () => this.#requestTimeoutMs(),
      onLeaseLost: () => {
        if (this.hasLock) this.leadership.setLock(false);
        this.writer.forgetMember(this.config.name);
      },
      onLeaseReplaced: (until) => {
        this.leadership.leaseReplaced(until);
        this.writer.forgetMember(this.config.name);
      },
      onRenewed: () => this.leadership.rearm(),
    });
    this.executor = new Executor({
      config: this.config,
      control: this.control,
      query: this.query,
      writer: this.writer,
      lease: () => this.lease,
      log: this.log,
      runTask: (name, state, fn) => void this.#tasks.run(name, state, fn),
      onLeadership: (isLeader) => this.leadership.setLock(isLeader),
      earlyCheckpoint: () => this.handoverPrep.takeCheckpoint(),
    });
    this.watchdog.onFenced = (pid) =>
      this.log.error({ pid }, 'watchdog fenced PostgreSQL: the leader lease was not renewed in time');
    this.watchdog.onRestarted = (reason) => this.log.warn(`${reason}; restarted and re-armed`);
    this.watchdog.onDead = (reason) => this.leadership.watchdogDead(reason);
    this.watchdog.start();
    configurePeerTls(this.config.restapi.tls);
    this.server = createApiServer(new AgentApiImpl(this), () => this.config.restapi, {
      reload: () => this.reloader.reload(),
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.config.restapi.listenPort, this.config.restapi.listenHost, () => resolve());
    });
    this.#watch();
    this.#loop.start();
  }

  /** Takes a cluster read as current; its `/config` timing and synchronous_mode only when they pass the checks. */
  #setCluster(read: ClusterState): ClusterState {
    const cluster = (this.cluster = this.#syncMode.apply(read));
    if (cluster.config.modRevision !== null) this.#timing.offer(cluster.config.raw, 'config');
    this.leadership.setPaused(cluster.config.isPaused === true);
    return cluster;
  }

  /** The long step in progress, if any. */
  get task(): Task | null {
    return this.#tasks.current;
  }

  /** A long step asked for from outside a cycle (REST restart, reinitialize): see {@link startBetweenCycles}. */
  startTask(name: string, state: string, fn: () => Promise<void>, force = false): Promise<TaskStart> {
    return startBetweenCycles(this.#tasks, this.#loop, { name, state, fn, force });
  }

  /** Wakes the loop on the keys that need a reaction before the next loop_wait. */
  #watch(): void {
    const dropped = droppedWatchKeys();
    this.#keyWatch = watchKeys(
      this.client,
      this.writer.prefix,
      (key) => {
        if (dropped.has(key)) return;
        if (key === 'leader' || key === 'failover' || key === 'config' || (key === 'status' && !this.hasLock))
          this.wake();
        if (key === 'leader') this.#loop.leaderChanged();
      },
      { log: this.log, retryMs: () => this.timing().loopWait * 1000 },
    );
  }

  /** Runs the next cycle now, or right after the current one (an event during a cycle is not lost). */
  wake(): void {
    this.#loop.wake();
  }

  /** Resolves when the leader key changes (or after `ms`). */
  onLeaderEvent(ms: number): Promise<void> {
    return this.#loop.onLeaderEvent(ms);
  }

  #cycleFailed(err: unknown): void {
    if (err instanceof SwitchyardError && err.exitCode === 3) {
      this.log.fatal(err.message);
      void this.stop({ leavePostgres: true }).finally(() => process.exit(3));
      this.#loop.halt();
    } else this.log.error({ err: describeError(err) }, 'HA cycle failed');
  }

  /** One HA cycle; returns its sentence. */
  async cycle(): Promise<string> {
    // The cluster read goes out with the lease renewal (one round trip less); used only if it renewed.
    const read = this.writer.read();
    read.catch(() => undefined);
    const renewed = await this.#leases.renew();
    let cluster: ClusterState | null = null;
    if (renewed) {
      try {
        cluster = this.#setCluster((await read).state);
        this.isDcsReachable = true;
        this.dcsLastSeen = Date.now();
      } catch (err) {
        this.log.warn({ err: describeError(err) }, 'reading the cluster failed');
      }
    }
    if (!cluster) this.isDcsReachable = false;
    if (cluster && cluster.config.modRevision !== null) await this.#leases.useTtl(this.timing().ttl);
    const lockOwner = cluster?.leader?.name;
    if (cluster && lockOwner !== this.config.name && this.hasLock) this.leadership.setLock(false);
    if (cluster && lockOwner === this.config.name && cluster.leader?.lease === this.lease.id)
      this.leadership.confirmLock();
    if (cluster && cluster.config.modRevision !== null)
      this.control.setDcsParameters(dcsPgParameters(cluster.config.raw));

    // An observation overlapping a task is stale (it changes PostgreSQL): only publish; its end wakes us.
    const taskAtStart = this.task;
    const observed = await observePostgres(
      this.control,
      this.query,
      cluster ?? this.cluster,
      this.task?.state ?? null,
    );
    const task = this.task ?? taskAtStart;
    this.obs = this.#stall.measure(observed, task !== null);
    this.#sentinel.ensure(this.obs.local.isRunning && this.obs.status !== null);
    const isMyKey = (cluster ?? this.cluster)?.leader?.name === this.config.name;
    this.#pgDown.note(isMyKey && !this.obs.local.isRunning, task !== null);
    const sentence = task ? `${task.name} in progress` : await this.#decideAndApply(cluster);
    if (this.isDcsReachable && this.lease.id && this.obs) {
      try {
        await this.writer.touchMember(
          this.config.name,
          memberValue(this.config, this.obs, cluster?.config.isPaused === true),
          this.lease.id,
        );
      } catch (err) {
        this.log.warn({ err: describeError(err) }, 'writing the member key failed');
      }
    }
    this.leadership.rearm();
    this.lastCycleAt = Date.now();
    if (sentence !== this.lastSentence || this.log.isLevelEnabled('debug')) this.log.info(sentence);
    this.lastSentence = sentence;
    return sentence;
  }

  async #decideAndApply(cluster: ClusterState | null): Promise<string> {
    const obs = this.obs as Observation;
    const known = cluster ?? this.cluster;
    const { peers, failsafeAllAccepted } = await gatherPeerFacts(this.config, cluster, known, obs, () =>
      this.handoverPrep.takePeers(),
    );
    this.leadership.setFailsafe(failsafeAllAccepted, failsafeAllAccepted);
    const d = decide(
      buildSnapshot({
        now: Date.now(),
        monotonicNow: monotonicMs(),
        name: this.config.name,
        cluster,
        pg: obs.local,
        leaseId: this.lease.id,
        safeUntilMonotonic: this.leadership.safeUntil(),
        tags: this.config.tags,
        peers,
        failsafeAllAccepted,
        failsafeLeaderAliveUntil: this.failsafeLeaderAliveUntil,
        bootstrapDcs: this.config.bootstrapDcs,
        pgDownForMs: this.#pgDown.ms(),
      }),
    );
    if (!cluster) {
      for (const a of d.actions)
        if (a.kind === 'demote') await this.executor.apply(a, { cluster: known as ClusterState, obs });
      if (d.actions.some((a) => a.kind === 'demote')) this.leadership.setLock(false);
      return d.sentence;
    }
    for (const action of d.actions) {
      try {
        const r = await this.executor.apply(action, { cluster, obs });
        if (!r.ok) return `${d.sentence}; stopped: ${r.reason}`;
      } catch (err) {
        if (err instanceof SwitchyardError && err.exitCode === 3) throw err;
        return `${d.sentence}; failed at ${action.kind}: ${describeError(err)}`;
      }
      if (action.kind === 'promote' && !this.task && this.lease.id)
        this.obs = await publishPromotion(this, cluster, this.lease.id).catch(() => this.obs);
      if (action.kind === 'promote' || action.kind === 'switchover' || action.kind === 'acquire_lock')
        this.wake();
    }
    return d.sentence;
  }

  /** The view from the HA loop's last observation (HEAD requests, `/metrics`). */
  view(): NodeView {
    return this.#viewOf(this.obs);
  }
  #viewOf(obs: Observation | null): NodeView {
    return nodeView(this, obs, { isLeader: this.isLeaderNow(), isFailsafeActive: this.failsafeActive });
  }

  /**
   * The view with PostgreSQL as it is now (`GET /patroni`, health paths), queried on the REST pool on every
   * request, also during a task (whose state it reports). Never replaces `obs`, from which alone the loop
   * decides. `/primary` also needs the lock: see `isWritablePrimary`. */
  async refreshView(): Promise<NodeView> {
    const state = this.task?.state ?? null;
    return this.#viewOf(await observePostgres(this.control, this.apiQuery, this.cluster, state));
  }

  /** Graceful stop (SIGTERM), bounded even when etcd is gone: see {@link shutdownAgent}. */
  async stop(options: { leavePostgres?: boolean } = {}): Promise<void> {
    this.#loop.halt();
    await shutdownAgent(
      {
        name: this.config.name,
        timing: this.timing(),
        requestMs: this.#requestTimeoutMs(),
        running: this.#loop.running,
        hadLock: this.hasLock,
        isPaused: this.cluster?.config.isPaused === true,
        leadership: this.leadership,
        control: this.control,
        dropConnections: () => this.query.reset(),
        watchdog: this.watchdog,
        writer: this.writer,
        lease: this.#leases?.lease,
        closers: [
          () => this.#keyWatch?.stop(),
          () => this.#sentinel.close(),
          () => closeServer(this.server),
          () => Promise.all([this.query.close(), this.apiQuery.close()]),
        ],
        client: this.client,
        log: this.log,
      },
      options,
    );
  }
}
