import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { namespacePrefix, scopePrefix, splitKey, type RawKey } from '../cluster/index.js';
import { describeError } from '../errors.js';
import { connectEtcd, translateEtcdError, type EtcdConnection } from './connect.js';

export interface SourceOptions {
  namespace: string;
  /** Scope names, or `['*']` for every scope under the namespace (new ones picked up live). */
  clusters: readonly string[];
  /** How often to confirm etcd answers (a stable leader key produces no events). */
  checkIntervalMs: number;
  log: Logger;
  /** Backoff bounds for resync attempts. */
  backoff?: { initialMs: number; maxMs: number };
}

export interface SourceHealth {
  isConnected: boolean;
  /** Epoch ms of the last successful etcd answer. */
  lastContactAt: number | null;
  lastError: string | null;
  /** etcd revision of the last snapshot or event applied. */
  revision: number;
  resyncs: number;
}

export interface SourceListener {
  /** The full current key set of one scope, after a snapshot or a watch batch touched it. */
  onScope(scope: string, keys: readonly RawKey[]): void;
  /** A scope that has no keys anymore (only with `*`, or a removed cluster). */
  onScopeGone(scope: string): void;
  onHealth(health: SourceHealth): void;
}

/**
 * What the router needs from a DCS: follow the keys, deliver snapshots and changes to the listener
 * (scopes first, then health), translate failures into the listener's health (`isConnected: false`
 * with the DcsUnavailableError's message), and stop. One implementation per store: `EtcdSource` (v3),
 * `EtcdV2Source` (v2, `etcd2.ts`).
 */
export interface DcsSource {
  start(): void;
  stop(): Promise<void>;
  current(): SourceHealth;
}

/** The DCS kinds the router follows, named like Patroni's YAML sections (`etcd3:`, `etcd:`). */
export type DcsType = 'etcd3' | 'etcd';

export interface OpenedSource {
  source: DcsSource;
  /** Releases the connection; after `source.stop()`. */
  close(): void;
}

/** Connects to the DCS of `type` and builds its source (not started). */
export async function openSource(
  type: DcsType,
  conn: EtcdConnection,
  options: SourceOptions,
  listener: SourceListener,
): Promise<OpenedSource> {
  switch (type) {
    case 'etcd3': {
      const client = await connectEtcd(conn);
      return { source: new EtcdSource(client, options, listener), close: () => client.close() };
    }
    case 'etcd': {
      // Loaded only for etcd's v2 API (its HTTP client): an etcd3 router never reads the module.
      const { EtcdV2Source } = await import('./etcd2.js');
      return { source: await EtcdV2Source.open(conn, options, listener), close: () => undefined };
    }
  }
}

/**
 * Follows the Patroni keys of the configured clusters: reads each prefix at one revision, then watches
 * from revision+1. Any watch error, cancellation (compaction), stream loss or failed liveness check tears
 * the watches down and resyncs by re-reading until it succeeds, with backoff — events may have been
 * missed, and a stable leader key produces none to catch up with.
 */
export class EtcdSource implements DcsSource {
  private readonly scopes = new Map<string, Map<string, RawKey>>();
  private readonly watchers: Watcher[] = [];
  private health: SourceHealth = {
    isConnected: false,
    lastContactAt: null,
    lastError: null,
    revision: 0,
    resyncs: 0,
  };
  private isStopped = false;
  private isSyncing = false;
  private checkTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private session = 0;

  constructor(
    private readonly client: Etcd3,
    private readonly options: SourceOptions,
    private readonly listener: SourceListener,
  ) {}

  start(): void {
    void this.resync();
    this.checkTimer = setInterval(() => void this.check(), this.options.checkIntervalMs);
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    clearInterval(this.checkTimer);
    clearTimeout(this.retryTimer);
    await this.dropWatches();
  }

  current(): SourceHealth {
    return { ...this.health };
  }

  private setHealth(patch: Partial<SourceHealth>): void {
    const before = this.health;
    this.health = { ...this.health, ...patch };
    if (
      before.isConnected !== this.health.isConnected ||
      before.lastError !== this.health.lastError ||
      patch.resyncs !== undefined
    ) {
      this.listener.onHealth(this.current());
    }
  }

  /** Reads every prefix, replaces the known key sets, then watches from each read's revision + 1. */
  private async resync(): Promise<void> {
    if (this.isStopped || this.isSyncing) return;
    this.isSyncing = true;
    clearTimeout(this.retryTimer);
    const session = ++this.session;
    try {
      await this.dropWatches();
      const seen = new Set<string>();
      const result = await readSnapshot(this.client, this.options.namespace, this.options.clusters);
      for (const [scope, keys] of result.scopes) {
        seen.add(scope);
        this.scopes.set(scope, keys);
      }
      const reads = result.reads;
      this.health.revision = Math.max(this.health.revision, ...reads.map((r) => r.revision));
      for (const prefix of reads) await this.watch(prefix.prefix, prefix.revision + 1, session);
      for (const scope of [...this.scopes.keys()]) {
        const keys = this.scopes.get(scope) as Map<string, RawKey>;
        if (!seen.has(scope) || (this.options.clusters.includes('*') && keys.size === 0)) {
          this.scopes.delete(scope);
          this.listener.onScopeGone(scope);
        } else {
          this.listener.onScope(scope, [...keys.values()]);
        }
      }
      // Scopes first, health second: the router publishes its first snapshot on "connected".
      this.attempt = 0;
      this.setHealth({
        isConnected: true,
        lastContactAt: Date.now(),
        lastError: null,
        resyncs: this.health.resyncs + 1,
      });
      this.options.log.debug(
        { revision: this.health.revision, scopes: this.scopes.size },
        'dcs snapshot read',
      );
    } catch (err) {
      const error = translateEtcdError(err, 'reading the cluster keys');
      this.setHealth({ isConnected: false, lastError: describeError(error) });
      this.scheduleResync();
    } finally {
      this.isSyncing = false;
    }
  }

  private scheduleResync(): void {
    if (this.isStopped) return;
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 100, maxMs: 5000 };
    const delay = Math.min(maxMs, initialMs * 2 ** this.attempt++) * (0.8 + Math.random() * 0.4);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.resync(), delay);
  }

  private async watch(prefix: string, fromRevision: number, session: number): Promise<void> {
    const watcher = await this.client.watch().prefix(prefix).startRevision(String(fromRevision)).create();
    this.watchers.push(watcher);
    const lost = (why: string) => {
      if (session !== this.session || this.isStopped) return;
      this.options.log.warn({ prefix, reason: why }, 'etcd watch lost; resyncing');
      this.setHealth({ isConnected: false, lastError: `watch lost: ${why}` });
      void this.resync();
    };
    watcher.on('data', (res: IWatchResponse) => {
      if (session === this.session) this.applyEvents(res);
    });
    watcher.on('disconnected', (err: Error) => lost(describeError(err)));
    watcher.on('error', (err: Error) => lost(describeError(err)));
    watcher.on('end', () => lost('watch ended'));
  }

  private applyEvents(res: IWatchResponse): void {
    const touched = new Set<string>();
    for (const event of res.events) {
      const split = splitKey(this.options.namespace, event.kv.key.toString());
      if (!split) continue;
      if (!this.options.clusters.includes('*') && !this.options.clusters.includes(split.scope)) continue;
      let keys = this.scopes.get(split.scope);
      if (!keys) this.scopes.set(split.scope, (keys = new Map()));
      if (event.type === 'Put') keys.set(split.key, toRaw(split.key, event.kv));
      else keys.delete(split.key);
      touched.add(split.scope);
    }
    this.health.revision = Math.max(this.health.revision, Number(res.header.revision));
    this.health.lastContactAt = Date.now();
    for (const scope of touched) {
      const keys = this.scopes.get(scope) as Map<string, RawKey>;
      if (keys.size === 0 && this.options.clusters.includes('*')) {
        this.scopes.delete(scope);
        this.listener.onScopeGone(scope);
      } else {
        this.listener.onScope(scope, [...keys.values()]);
      }
    }
  }

  /** Liveness: one cheap read per interval for the whole source, not per cluster. */
  private async check(): Promise<void> {
    if (this.isStopped || this.isSyncing) return;
    try {
      await this.client.get(`${namespacePrefix(this.options.namespace)}\u0000switchyard-liveness`).exec();
      const wasDown = !this.health.isConnected;
      this.health.lastContactAt = Date.now();
      if (wasDown) void this.resync();
    } catch (err) {
      const error = translateEtcdError(err, 'checking etcd liveness');
      if (this.health.isConnected) this.options.log.warn({ err: describeError(error) }, 'etcd unreachable');
      this.setHealth({ isConnected: false, lastError: describeError(error) });
    }
  }

  private async dropWatches(): Promise<void> {
    const watchers = this.watchers.splice(0);
    await Promise.all(watchers.map((w) => w.cancel().catch(() => undefined)));
  }
}

function prefixesFor(namespace: string, clusters: readonly string[]): string[] {
  return clusters.includes('*')
    ? [namespacePrefix(namespace)]
    : clusters.map((s) => scopePrefix(namespace, s));
}

/**
 * Reads every followed prefix, each at one revision. Explicitly named clusters are present in the
 * result even without keys (a cluster not bootstrapped yet, or deleted).
 */
export async function readSnapshot(
  client: Etcd3,
  namespace: string,
  clusters: readonly string[],
): Promise<{ scopes: Map<string, Map<string, RawKey>>; reads: Array<{ prefix: string; revision: number }> }> {
  const scopes = new Map<string, Map<string, RawKey>>();
  const reads: Array<{ prefix: string; revision: number }> = [];
  for (const prefix of prefixesFor(namespace, clusters)) {
    const response = await client.getAll().prefix(prefix).exec();
    for (const kv of response.kvs) {
      const split = splitKey(namespace, kv.key.toString());
      if (!split) continue;
      if (!clusters.includes('*') && !clusters.includes(split.scope)) continue;
      let keys = scopes.get(split.scope);
      if (!keys) scopes.set(split.scope, (keys = new Map()));
      keys.set(split.key, toRaw(split.key, kv));
    }
    reads.push({ prefix, revision: Number(response.header.revision) });
  }
  if (!clusters.includes('*'))
    for (const scope of clusters) if (!scopes.has(scope)) scopes.set(scope, new Map());
  return { scopes, reads };
}

function toRaw(key: string, kv: IKeyValue): RawKey {
  return { key, value: kv.value.toString(), modRevision: Number(kv.mod_revision), lease: String(kv.lease) };
}
