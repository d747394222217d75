import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { namespacePrefix, scopePrefix, splitKey, type RawKey } from '../cluster/index.js';
import { describeError } from '../errors.js';
import { connectEtcd, translateEtcdError, type EtcdConnection } from './connect.js';
import { FollowState } from './follow.js';

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
  private readonly follow: FollowState;
  private readonly watchers: Watcher[] = [];
  private isSyncing = false;
  private session = 0;

  constructor(
    private readonly client: Etcd3,
    private readonly options: SourceOptions,
    listener: SourceListener,
  ) {
    this.follow = new FollowState(options, listener, {
      resync: () => this.resync(),
      check: () => this.check(),
    });
  }

  start(): void {
    this.follow.start();
  }

  async stop(): Promise<void> {
    this.follow.stop();
    await this.dropWatches();
  }

  current(): SourceHealth {
    return this.follow.current();
  }

  /** Reads every prefix, replaces the known key sets, then watches from each read's revision + 1. */
  private async resync(): Promise<void> {
    if (this.follow.isStopped || this.isSyncing) return;
    this.isSyncing = true;
    this.follow.cancelResync();
    const session = ++this.session;
    try {
      await this.dropWatches();
      const result = await readSnapshot(this.client, this.options.namespace, this.options.clusters);
      this.follow.adopt(result.scopes);
      const reads = result.reads;
      const health = this.follow.health;
      health.revision = Math.max(health.revision, ...reads.map((r) => r.revision));
      for (const prefix of reads) await this.watch(prefix.prefix, prefix.revision + 1, session);
      this.follow.announceRead(result.scopes);
      // Scopes first, health second: the router publishes its first snapshot on "connected".
      this.follow.resynced();
      this.options.log.debug(
        { revision: this.follow.health.revision, scopes: this.follow.scopes.size },
        'dcs snapshot read',
      );
    } catch (err) {
      const error = translateEtcdError(err, 'reading the cluster keys');
      this.follow.setHealth({ isConnected: false, lastError: describeError(error) });
      this.follow.scheduleResync();
    } finally {
      this.isSyncing = false;
    }
  }

  private async watch(prefix: string, fromRevision: number, session: number): Promise<void> {
    const watcher = await this.client.watch().prefix(prefix).startRevision(String(fromRevision)).create();
    this.watchers.push(watcher);
    const lost = (why: string) => {
      if (session !== this.session || this.follow.isStopped) return;
      this.options.log.warn({ prefix, reason: why }, 'etcd watch lost; resyncing');
      this.follow.setHealth({ isConnected: false, lastError: `watch lost: ${why}` });
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
    const scopes = this.follow.scopes;
    for (const event of res.events) {
      const split = splitKey(this.options.namespace, event.kv.key.toString());
      if (!split || !this.follow.follows(split.scope)) continue;
      let keys = scopes.get(split.scope);
      if (!keys) scopes.set(split.scope, (keys = new Map()));
      if (event.type === 'Put') keys.set(split.key, toRaw(split.key, event.kv));
      else keys.delete(split.key);
      touched.add(split.scope);
    }
    this.follow.announceEvents(touched, Number(res.header.revision));
  }

  /** Liveness: one cheap read per interval for the whole source, not per cluster. */
  private async check(): Promise<void> {
    if (this.follow.isStopped || this.isSyncing) return;
    await this.follow.checkLiveness(
      () => this.client.get(`${namespacePrefix(this.options.namespace)}\u0000switchyard-liveness`).exec(),
      (err) => translateEtcdError(err, 'checking etcd liveness'),
    );
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
