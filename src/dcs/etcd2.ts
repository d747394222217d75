import { namespacePrefix, scopePrefix, splitKey, type RawKey } from '../cluster/index.js';
import { SwitchyardError, describeError } from '../errors.js';
import type { EtcdConnection } from './connect.js';
import {
  EtcdV2Http,
  V2_EVENT_INDEX_CLEARED,
  V2_KEY_NOT_FOUND,
  type V2Body,
  type V2Node,
} from './etcd2-http.js';
import { FollowState, type ScopeKeys } from './follow.js';
import type { DcsSource, SourceHealth, SourceListener, SourceOptions } from './source.js';

/** v2 actions that leave the key in place; every other action (delete, expire, compareAndDelete) removes it. */
const PUT_ACTIONS = new Set(['set', 'create', 'update', 'compareAndSwap']);

/** How long one watch long poll may wait for an event before it is re-issued from where it stood. */
const WATCH_WINDOW_MS = 30_000;

export interface EtcdV2Tuning {
  /** Long-poll window (default 30 s); shorter in tests. */
  watchWindowMs?: number;
}

/**
 * Follows Patroni's keys in etcd's v2 API (Patroni's `etcd:` section): reads each followed directory
 * recursively with a quorum read, then long-polls `wait=true&recursive=true&waitIndex=X-Etcd-Index+1`,
 * one event per answer. TTL expiry (`expire`) and every other removal are deletes. An event index that
 * etcd no longer keeps (`EventIndexCleared`: v2 keeps only the last 1000 events), any watch error and a
 * failed liveness check tear the watches down and resync by re-reading, with backoff.
 */
export class EtcdV2Source implements DcsSource {
  private readonly follow: FollowState;
  private isSyncing = false;
  private session = 0;
  private watches = new AbortController();

  constructor(
    private readonly http: EtcdV2Http,
    private readonly options: SourceOptions,
    listener: SourceListener,
    private readonly tuning: EtcdV2Tuning = {},
  ) {
    this.follow = new FollowState(options, listener, {
      resync: () => this.resync(),
      check: () => this.check(),
    });
  }

  static async open(
    conn: EtcdConnection,
    options: SourceOptions,
    listener: SourceListener,
    tuning: EtcdV2Tuning = {},
  ) {
    return new EtcdV2Source(await EtcdV2Http.open(conn), options, listener, tuning);
  }

  start(): void {
    this.follow.start();
  }

  async stop(): Promise<void> {
    this.follow.stop();
    this.watches.abort();
    await this.http.close();
  }

  current(): SourceHealth {
    return this.follow.current();
  }

  /** The v2 directories read and watched: the namespace for `*`, else one per scope (no trailing `/`). */
  private directories(): string[] {
    const prefixes = this.follow.isAll
      ? [namespacePrefix(this.options.namespace)]
      : this.options.clusters.map((s) => scopePrefix(this.options.namespace, s));
    return prefixes.map((p) => p.replace(/\/$/, '') || '/');
  }

  private async resync(): Promise<void> {
    if (this.follow.isStopped || this.isSyncing) return;
    this.isSyncing = true;
    this.follow.cancelResync();
    const session = ++this.session;
    this.watches.abort();
    this.watches = new AbortController();
    const reads: Array<{ directory: string; index: number }> = [];
    try {
      const fresh: ScopeKeys = new Map();
      if (!this.follow.isAll) for (const scope of this.options.clusters) fresh.set(scope, new Map());
      for (const directory of this.directories()) {
        const answer = await this.http.get(encodePath(directory), { recursive: 'true', quorum: 'true' });
        const body = answer.body ?? {};
        if (answer.status === 200 && body.node) {
          for (const leaf of leaves(body.node)) this.put(fresh, leaf);
        } else if (body.errorCode !== V2_KEY_NOT_FOUND) {
          throw v2Error(body, `reading ${directory}`);
        }
        reads.push({ directory, index: answer.etcdIndex });
      }
      this.follow.adopt(fresh);
      this.follow.announceRead(fresh);
      this.follow.resynced({
        revision: Math.max(this.follow.health.revision, ...reads.map((r) => r.index)),
      });
      this.options.log.debug(
        { index: this.follow.health.revision, scopes: this.follow.scopes.size },
        'dcs snapshot read (etcd v2)',
      );
    } catch (err) {
      this.follow.setHealth({ isConnected: false, lastError: describeError(err) });
      this.follow.scheduleResync();
      return;
    } finally {
      this.isSyncing = false;
    }
    const signal = this.watches.signal;
    for (const read of reads) void this.watch(read.directory, read.index + 1, session, signal);
  }

  /** Long-polls one directory from `waitIndex`, one event per answer, until the session ends or fails. */
  private async watch(directory: string, fromIndex: number, session: number, signal: AbortSignal) {
    let waitIndex = fromIndex;
    const query = { wait: 'true', recursive: 'true' };
    try {
      while (session === this.session && !this.follow.isStopped) {
        const answer = await this.http.get(
          encodePath(directory),
          { ...query, waitIndex: String(waitIndex) },
          { windowMs: this.tuning.watchWindowMs ?? WATCH_WINDOW_MS, signal },
        );
        if (session !== this.session) return;
        const body = answer.body;
        if (body === null) {
          // No event for this directory up to the index the watch started at: continue after it.
          waitIndex = Math.max(waitIndex, answer.etcdIndex + 1);
          continue;
        }
        if (body.errorCode === V2_EVENT_INDEX_CLEARED) {
          this.options.log.info(
            { directory, waitIndex, detail: body.cause },
            'etcd v2 no longer has the events after the last index seen; resyncing',
          );
          return this.lost(session, `event index ${waitIndex} cleared`);
        }
        if (answer.status !== 200 || !body.action || !body.node) throw v2Error(body, `watching ${directory}`);
        this.apply(body.action, body.node);
        waitIndex = body.node.modifiedIndex + 1;
      }
    } catch (err) {
      if (signal.aborted || session !== this.session) return;
      this.options.log.warn({ directory, reason: describeError(err) }, 'etcd v2 watch lost; resyncing');
      this.lost(session, describeError(err));
    }
  }

  private lost(session: number, why: string): void {
    if (session !== this.session || this.follow.isStopped) return;
    this.watches.abort();
    this.follow.setHealth({ isConnected: false, lastError: `watch lost: ${why}` });
    void this.resync();
  }

  private apply(action: string, node: V2Node): void {
    const touched = new Set<string>();
    if (PUT_ACTIONS.has(action)) {
      if (!node.dir) {
        const scope = this.put(this.follow.scopes, node);
        if (scope !== null) touched.add(scope);
      }
    } else {
      for (const scope of this.remove(node)) touched.add(scope);
    }
    this.follow.announceEvents(touched, node.modifiedIndex);
  }

  /** Stores a leaf under its scope; returns the scope, or null for keys outside the followed layout. */
  private put(into: ScopeKeys, node: V2Node): string | null {
    const split = splitKey(this.options.namespace, node.key);
    if (!split || !this.follow.follows(split.scope)) return null;
    let keys = into.get(split.scope);
    if (!keys) into.set(split.scope, (keys = new Map()));
    keys.set(split.key, toRaw(split.key, node));
    return split.scope;
  }

  /** Removes a key, or every key under a removed directory (`patronictl remove` deletes the scope). */
  private remove(node: V2Node): string[] {
    const touched: string[] = [];
    const removed = node.dir ? `${node.key.replace(/\/$/, '')}/` : node.key;
    for (const [scope, keys] of this.follow.scopes) {
      const prefix = scopePrefix(this.options.namespace, scope);
      for (const key of [...keys.keys()]) {
        const absolute = prefix + key;
        if (node.dir ? absolute.startsWith(removed) : absolute === removed) {
          keys.delete(key);
          if (!touched.includes(scope)) touched.push(scope);
        }
      }
    }
    return touched;
  }

  /** Liveness: one cheap read per interval (a stable leader key produces no events to notice a dead etcd by). */
  private async check(): Promise<void> {
    if (this.follow.isStopped || this.isSyncing) return;
    const probe = `${namespacePrefix(this.options.namespace)}_switchyard-liveness`;
    await this.follow.checkLiveness(
      () => this.http.get(encodePath(probe), {}),
      (err) => err,
    );
  }
}

export function leaves(node: V2Node): V2Node[] {
  if (!node.dir) return [node];
  return (node.nodes ?? []).flatMap(leaves);
}

export function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}

export function v2Error(body: V2Body, action: string): SwitchyardError {
  return new SwitchyardError(
    'SY_ERR_DCS_UNAVAILABLE',
    `etcd v2 error while ${action}: errorCode ${body.errorCode ?? '?'} (${body.message ?? 'no message'}${
      body.cause ? `: ${body.cause}` : ''
    })`,
  );
}

/**
 * The leader key's revision is its `createdIndex`: Patroni's v2 heartbeat rewrites the key
 * (compareAndSwap with a fresh TTL) every loop, so `modifiedIndex` changes without a change of
 * leadership, while `createdIndex` changes only when the key is taken anew (as etcd3's mod_revision of
 * a Patroni leader key does). v2 keys expire by TTL, not by lease: `lease` is `'0'`.
 */
export function toRaw(key: string, node: V2Node): RawKey {
  const revision = key === 'leader' ? node.createdIndex : node.modifiedIndex;
  return { key, value: node.value ?? '', modRevision: revision, lease: '0' };
}
