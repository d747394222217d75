import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Etcd3 } from 'etcd3';
import type { ClusterState } from '../src/cluster/index.js';
import { connectEtcd } from '../src/dcs/connect.js';
import { ClusterWriter } from '../src/dcs/cluster-writer.js';
import { watchKeys, type KeyWatch } from '../src/dcs/key-watch.js';
import { AgentLease, monotonicMs } from '../src/dcs/lease.js';
import { SwitchyardError, describeError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import { createApiServer } from './api/server.js';
import type { NodeView } from './api/view.js';
import type { AgentConfig } from './config/load.js';
import { ConfigReloader } from './config/reload.js';
import { decide } from './ha/decide.js';
import { failoverCandidate } from './ha/manual.js';
import type { HaSnapshot, PeerStatus } from './ha/types.js';
import { Executor } from './execute.js';
import { memberValue, observePostgres, type Observation } from './observe.js';
import { configurePeerTls, confirmFailsafe, probePeers } from './peers.js';
import { PgControl } from './postgres/control.js';
import { PgQuery } from './postgres/query.js';
import { AgentApiImpl } from './api-impl.js';
import { FencingWatchdog } from './watchdog.js';

/** Timing from `/config` (or bootstrap.dcs before the cluster exists). */
export interface Timing {
  ttl: number;
  loopWait: number;
  retryTimeout: number;
}

/** `postgresql.parameters` of a dynamic configuration object. */
function dcsPgParameters(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const pg = config['postgresql'];
  const params = pg && typeof pg === 'object' ? (pg as Record<string, unknown>)['parameters'] : undefined;
  return params && typeof params === 'object' ? (params as Record<string, unknown>) : {};
}

/** Margin before the lease's certain expiry by which a primary stops accepting writes (Patroni's safety_margin). */
export function safetyMarginMs(ttlSeconds: number): number {
  return Math.max(1000, Math.min(5000, (ttlSeconds * 1000) / 4));
}

/**
 * One agent, one PostgreSQL. Each cycle: renew the lease, read the cluster, look at PostgreSQL, decide
 * (pure), apply the steps, publish the member key, and log one sentence. Cycles run every loop_wait, or
 * sooner when the leader/failover/config keys change or the REST API asks.
 */
export class Agent {
  readonly control: PgControl;
  readonly query: PgQuery;
  readonly watchdog = new FencingWatchdog();
  client!: Etcd3;
  writer!: ClusterWriter;
  lease!: AgentLease;
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
  hasLock = false;
  failsafeActive = false;
  failsafeLeaderAliveUntil = 0;
  #failsafeConfirmedAt = 0;
  task: { name: string; state: string; promise: Promise<string | null> } | null = null;
  #stopped = false;
  #wake: (() => void) | null = null;
  #wakePending = false;
  #lastRenewAt = 0;
  #notStreamingSince: number | null = null;
  #oldLeaseAliveUntil: number | null = null;
  #keyWatch: KeyWatch | null = null;
  #guard: NodeJS.Timeout | null = null;
  #cycleRunning: Promise<void> | null = null;
  readonly #leaderWaiters = new Set<() => void>();

  constructor(
    readonly config: AgentConfig,
    readonly log: Logger,
  ) {
    this.control = new PgControl(config);
    this.query = new PgQuery(config);
    this.control.setDcsParameters(dcsPgParameters(config.bootstrapDcs));
  }

  timing(): Timing {
    const raw = this.config.bootstrapDcs;
    const fromDcs = this.cluster?.config.modRevision != null ? this.cluster.config : null;
    return {
      ttl: fromDcs?.ttl ?? (raw['ttl'] as number | undefined) ?? 30,
      loopWait: fromDcs?.loopWait ?? (raw['loop_wait'] as number | undefined) ?? 10,
      retryTimeout: fromDcs?.retryTimeout ?? (raw['retry_timeout'] as number | undefined) ?? 10,
    };
  }

  /** Holds the leader key with a lease that is certainly alive now (minus the safety margin). */
  #requestTimeoutMs(): number {
    return Math.min(2000, this.timing().retryTimeout * 500);
  }

  isLeaderNow(): boolean {
    return (
      this.hasLock &&
      this.lease.id !== null &&
      monotonicMs() < this.#aliveUntil() - safetyMarginMs(this.lease.ttlSeconds)
    );
  }

  /**
   * Until when this node may act as primary: the lease's certain lifetime, extended by ttl from the last
   * failsafe confirmation (every member answered POST /failsafe while etcd was down).
   */
  #aliveUntil(): number {
    const failsafe = this.failsafeActive ? this.#failsafeConfirmedAt + this.lease.ttlSeconds * 1000 : 0;
    const lease =
      this.#oldLeaseAliveUntil === null
        ? this.lease.aliveUntil
        : Math.min(this.lease.aliveUntil, this.#oldLeaseAliveUntil);
    return Math.max(lease, failsafe);
  }

  async start(): Promise<void> {
    const t0 = this.timing();
    this.client = await connectEtcd({
      ...this.config.etcd,
      requestTimeoutMs: Math.min(2000, t0.retryTimeout * 500),
    });
    this.writer = new ClusterWriter(this.client, this.config.namespace, this.config.scope);
    // Joining an existing cluster: its /config ttl, not bootstrap.dcs, sets the lease TTL.
    try {
      this.cluster = (await this.writer.read()).state;
    } catch {
      // etcd not reachable yet: the loop retries; bootstrap.dcs timing until then
    }
    const t = this.timing();
    this.lease = new AgentLease(this.client, {
      ttlSeconds: t.ttl,
      requestTimeoutMs: Math.min(2000, t.retryTimeout * 500),
    });
    this.executor = new Executor({
      config: this.config,
      control: this.control,
      query: this.query,
      writer: this.writer,
      lease: () => this.lease,
      log: this.log,
      runTask: (name, state, fn) => void this.runTask(name, state, fn),
      onLeadership: (isLeader) => this.#setLock(isLeader),
    });
    this.watchdog.onFenced = (pid) =>
      this.log.error({ pid }, 'watchdog fenced PostgreSQL: the leader lease was not renewed in time');
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
    void this.#loop();
  }

  #setLock(isLeader: boolean): void {
    this.hasLock = isLeader;
    this.#oldLeaseAliveUntil = null;
    if (!isLeader) this.watchdog.disarm();
    this.#armGuards();
  }

  /**
   * While this node holds the lock and PostgreSQL is primary: an in-process timer stops PostgreSQL at the
   * lease's safe deadline, and the watchdog process does the same a little later if this process is frozen.
   */
  #armGuards(): void {
    if (this.#guard) clearTimeout(this.#guard);
    this.#guard = null;
    const pid = this.control.postmasterPid();
    const isPrimary = this.obs?.local.isRunning && this.obs.local.isInRecovery === false;
    if (
      !this.hasLock ||
      this.lease.id === null ||
      pid === null ||
      !isPrimary ||
      this.cluster?.config.isPaused
    ) {
      if (!this.failsafeActive) this.watchdog.disarm();
      return;
    }
    const margin = safetyMarginMs(this.lease.ttlSeconds);
    const aliveUntil = this.#aliveUntil();
    const safeUntil = aliveUntil - margin;
    this.watchdog.arm(aliveUntil - margin / 2, pid);
    this.#guard = setTimeout(
      () => {
        if (monotonicMs() < this.#aliveUntil() - margin) return this.#armGuards();
        this.log.error('demoting: the leader lease was not renewed in time; stopping PostgreSQL');
        this.hasLock = false;
        this.control.fence();
      },
      Math.max(0, safeUntil - monotonicMs()),
    );
  }

  /**
   * Runs a long step (bootstrap, clone, start, rewind, restart, reinit) while cycles keep renewing the lease
   * and publishing the member key. Resolves with the step's error message, or null on success.
   */
  runTask(name: string, state: string, fn: () => Promise<void>): Promise<string | null> {
    const promise = fn().then(
      () => {
        this.log.info({ task: name }, `${name} finished`);
        this.task = null;
        this.wake();
        return null;
      },
      (err: unknown) => {
        // No wake-up: the next regular cycle retries, so a failing step is not retried in a tight loop.
        this.log.error({ task: name, err: describeError(err) }, `${name} failed`);
        this.task = null;
        return describeError(err);
      },
    );
    this.task = { name, state, promise };
    return promise;
  }

  /** Wakes the loop on the keys that need a reaction before the next loop_wait. */
  #watch(): void {
    this.#keyWatch = watchKeys(
      this.client,
      this.writer.prefix,
      (key) => {
        if (key === 'leader' || key === 'failover' || key === 'config' || (key === 'status' && !this.hasLock))
          this.wake();
        if (key === 'leader') for (const fn of this.#leaderWaiters) fn();
      },
      { log: this.log, retryMs: () => this.timing().loopWait * 1000 },
    );
  }

  /** Runs the next cycle now, or right after the current one (an event during a cycle is not lost). */
  wake(): void {
    if (this.#wake) this.#wake();
    else this.#wakePending = true;
  }

  /** Resolves when the leader key changes (or after `ms`). */
  onLeaderEvent(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#leaderWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#leaderWaiters.add(done);
    });
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      const started = monotonicMs();
      this.#wakePending = false;
      this.#cycleRunning = this.cycle().then(
        () => undefined,
        (err: unknown) => {
          if (err instanceof SwitchyardError && err.exitCode === 3) {
            this.log.fatal(err.message);
            void this.stop({ leavePostgres: true }).finally(() => process.exit(3));
            this.#stopped = true;
          } else this.log.error({ err: describeError(err) }, 'HA cycle failed');
        },
      );
      await this.#cycleRunning;
      if (this.#stopped) break;
      const wait = this.#wakePending
        ? 0
        : Math.max(0, this.timing().loopWait * 1000 - (monotonicMs() - started)) + (this.hasLock ? 0 : 100);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#wake = done;
      });
      this.#wake = null;
    }
  }

  async #renewLease(): Promise<boolean> {
    // A cycle woken by an event right after a renewal skips the round trip: it is on the switchover path.
    if (this.lease.id !== null && monotonicMs() - this.#lastRenewAt < 1000) return true;
    try {
      this.#lastRenewAt = monotonicMs();
      if (this.lease.id === null || !(await this.lease.keepalive())) {
        if (this.hasLock) this.#setLock(false);
        this.writer.forgetMember(this.config.name);
        await this.lease.grant();
      }
      return true;
    } catch (err) {
      this.#lastRenewAt = 0;
      this.log.warn({ err: describeError(err) }, 'lease renewal failed');
      return false;
    }
  }

  /** One HA cycle; returns its sentence. */
  async cycle(): Promise<string> {
    const renewed = await this.#renewLease();
    let cluster: ClusterState | null = null;
    if (renewed) {
      try {
        cluster = (await this.writer.read()).state;
        this.cluster = cluster;
        this.isDcsReachable = true;
        this.dcsLastSeen = Date.now();
      } catch (err) {
        this.log.warn({ err: describeError(err) }, 'reading the cluster failed');
      }
    }
    if (!cluster) this.isDcsReachable = false;
    if (cluster && cluster.config.modRevision !== null && cluster.config.ttl !== this.lease.ttlSeconds) {
      // Like Patroni: a new ttl means a new lease. The old one is left to expire (revoking it would delete
      // the leader key at once); the leader key moves over by VALUE==name (take_over_own_key).
      this.log.info(
        { from: this.lease.ttlSeconds, to: cluster.config.ttl },
        'ttl changed: granting a new lease',
      );
      // Until the leader key is on the new lease, the old lease's deadline still bounds this primary.
      this.#oldLeaseAliveUntil = this.lease.aliveUntil;
      this.lease = new AgentLease(this.client, {
        ttlSeconds: cluster.config.ttl,
        requestTimeoutMs: this.#requestTimeoutMs(),
      });
      this.writer.forgetMember(this.config.name);
      try {
        await this.lease.grant();
        this.#lastRenewAt = monotonicMs();
      } catch (err) {
        this.log.warn({ err: describeError(err) }, 'granting the new lease failed');
      }
    }
    const lockOwner = cluster?.leader?.name;
    if (cluster && lockOwner !== this.config.name && this.hasLock) this.#setLock(false);
    if (cluster && lockOwner === this.config.name && cluster.leader?.lease === this.lease.id)
      this.hasLock = true;
    if (cluster && cluster.config.modRevision !== null)
      this.control.setDcsParameters(dcsPgParameters(cluster.config.raw));

    const observed = await observePostgres(
      this.control,
      this.query,
      cluster ?? this.cluster,
      this.task?.state ?? null,
    );
    // How long a running standby has gone without streaming (a stalled follower is rejoined, see decide).
    const stalled =
      observed.status?.isInRecovery === true && !observed.status.walReceiverStreaming && !this.task;
    if (!stalled) this.#notStreamingSince = null;
    else this.#notStreamingSince ??= monotonicMs();
    const notStreamingMs = this.#notStreamingSince === null ? 0 : monotonicMs() - this.#notStreamingSince;
    this.obs = { ...observed, local: { ...observed.local, notStreamingMs } };
    let sentence: string;
    if (this.task) {
      sentence = `${this.task.name} in progress`;
    } else {
      sentence = await this.#decideAndApply(cluster);
    }
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
    this.#armGuards();
    this.lastCycleAt = Date.now();
    if (sentence !== this.lastSentence || this.log.isLevelEnabled('debug')) this.log.info(sentence);
    this.lastSentence = sentence;
    return sentence;
  }

  async #decideAndApply(cluster: ClusterState | null): Promise<string> {
    const obs = this.obs as Observation;
    // The named candidate of a switchover takes the released key without asking anyone (saves a round trip).
    const isNamedCandidate =
      cluster?.leader === null &&
      cluster.failover !== null &&
      failoverCandidate(cluster.failover) === this.config.name;
    const needsPeers =
      cluster !== null && (cluster.leader === null || cluster.failover !== null) && !isNamedCandidate;
    const peers: ReadonlyMap<string, PeerStatus> = needsPeers
      ? await probePeers(cluster, this.config.name)
      : new Map();
    this.failsafeActive = false;
    let failsafeAllAccepted = false;
    const known = cluster ?? this.cluster;
    if (!cluster && known?.config.isFailsafeMode && known.failsafe && obs.local.isInRecovery === false) {
      failsafeAllAccepted = await confirmFailsafe(
        known.failsafe,
        {
          name: this.config.name,
          connUrl: `postgres://${this.config.postgresql.connectHost}:${this.config.postgresql.connectPort}/${this.config.postgresql.database}`,
          apiUrl: `http://${this.config.restapi.connectAddress}/patroni`,
        },
        this.config.restapi.auth,
        known.members,
      );
      this.failsafeActive = failsafeAllAccepted;
      if (failsafeAllAccepted) this.#failsafeConfirmedAt = monotonicMs();
    }
    const now = Date.now();
    const margin = safetyMarginMs(this.lease.ttlSeconds);
    const snapshot: HaSnapshot = {
      now,
      name: this.config.name,
      cluster,
      pg: obs.local,
      lease: { id: this.lease.id, safeUntil: now + (this.#aliveUntil() - margin - monotonicMs()) },
      tags: {
        isNoFailover:
          this.config.tags['nofailover'] === true ||
          (typeof this.config.tags['failover_priority'] === 'number' &&
            this.config.tags['failover_priority'] <= 0),
        failoverPriority:
          typeof this.config.tags['failover_priority'] === 'number'
            ? this.config.tags['failover_priority']
            : 1,
        isNoSync: this.config.tags['nosync'] === true,
      },
      peers,
      failsafeAllAccepted,
      failsafeLeaderAliveUntil: this.failsafeLeaderAliveUntil,
      bootstrap: { synchronousMode: this.config.bootstrapDcs['synchronous_mode'] === true },
    };
    const d = decide(snapshot);
    if (!cluster) {
      for (const a of d.actions)
        if (a.kind === 'demote') await this.executor.apply(a, { cluster: known as ClusterState, obs });
      if (d.actions.some((a) => a.kind === 'demote')) this.#setLock(false);
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
      if (action.kind === 'promote' || action.kind === 'switchover' || action.kind === 'acquire_lock')
        this.wake();
    }
    return d.sentence;
  }

  view(): NodeView {
    const obs = this.obs;
    return {
      name: this.config.name,
      scope: this.config.scope,
      pgState: obs?.local.state ?? 'unknown',
      pg: obs?.status ?? null,
      isLeader: this.isLeaderNow(),
      cluster: this.cluster,
      isDcsReachable: this.isDcsReachable,
      dcsLastSeen: this.dcsLastSeen,
      tags: this.config.tags,
      isFailsafeActive: this.failsafeActive,
      lastCycleAt: this.lastCycleAt,
      lastSentence: this.lastSentence,
      now: Date.now(),
    };
  }

  /** Refreshes the PostgreSQL part of the view (REST `GET /patroni` must be current for other nodes' races). */
  async refreshView(): Promise<NodeView> {
    if (!this.task) this.obs = await observePostgres(this.control, this.query, this.cluster, null);
    return this.view();
  }

  /**
   * Graceful stop (SIGTERM): stop PostgreSQL (unless paused or `leavePostgres`), release the leader key,
   * revoke the lease so the member key disappears at once.
   */
  async stop(options: { leavePostgres?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    this.wake();
    await this.#cycleRunning?.catch(() => undefined);
    if (this.#guard) clearTimeout(this.#guard);
    const paused = this.cluster?.config.isPaused === true;
    try {
      if (!paused && !options.leavePostgres) {
        await this.query.reset();
        await this.control.stop('fast').catch(() => this.control.stop('immediate'));
        this.watchdog.stop();
        if (this.hasLock) await this.writer.releaseLeader(this.config.name).catch(() => false);
        await this.lease.revoke().catch(() => undefined);
      } else {
        this.watchdog.stop();
      }
    } finally {
      this.hasLock = false;
      await this.#keyWatch?.stop();
      const server = this.server;
      if (server) {
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections();
        await closed;
      }
      await this.query.close();
      this.client?.close();
    }
  }

  peers(cluster: ClusterState): Promise<Map<string, PeerStatus>> {
    return probePeers(cluster, this.config.name);
  }
}
