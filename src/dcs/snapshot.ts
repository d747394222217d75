import type { Etcd3 } from 'etcd3';
import { namespacePrefix, scopePrefix, splitKey, type RawKey } from '../cluster/index.js';
import { connectEtcd, translateEtcdError, type EtcdConnection } from './connect.js';
import { encodePath, leaves, toRaw, v2Error } from './etcd2.js';
import { EtcdV2Http, V2_KEY_NOT_FOUND } from './etcd2-http.js';
import { readSnapshot, type DcsType } from './source.js';

/** Key sets by scope; every named scope is present, empty when it has no keys. */
export type ScopeKeys = Map<string, Map<string, RawKey>>;

/**
 * One-shot reads of Patroni's keys for commands (`render`, `switchover`, `ctl`): the same key sets the
 * router's source delivers, from etcd v3 (`dcs.type: etcd3`) or v2 (`dcs.type: etcd`), without a watch.
 */
export interface SnapshotReader {
  readonly type: DcsType;
  read(namespace: string, scopes: readonly string[]): Promise<ScopeKeys>;
  /** The v3 client, for commands that also write (`ctl edit-config`, `ctl remove`); null on v2. */
  readonly etcd3: Etcd3 | null;
  close(): Promise<void>;
}

export async function openSnapshotReader(type: DcsType, conn: EtcdConnection): Promise<SnapshotReader> {
  if (type === 'etcd3') {
    const client = await connectEtcd(conn);
    return {
      type,
      etcd3: client,
      async read(namespace, scopes) {
        try {
          return (await readSnapshot(client, namespace, scopes)).scopes;
        } catch (err) {
          throw translateEtcdError(err, 'reading the cluster keys');
        }
      },
      close: async () => client.close(),
    };
  }
  const http = await EtcdV2Http.open(conn);
  return {
    type,
    etcd3: null,
    read: (namespace, scopes) => readV2(http, namespace, scopes),
    close: () => http.close(),
  };
}

/** Reads once and closes. */
export async function readOnce(
  type: DcsType,
  conn: EtcdConnection,
  namespace: string,
  scopes: readonly string[],
): Promise<ScopeKeys> {
  const reader = await openSnapshotReader(type, conn);
  try {
    return await reader.read(namespace, scopes);
  } finally {
    await reader.close();
  }
}

async function readV2(http: EtcdV2Http, namespace: string, scopes: readonly string[]): Promise<ScopeKeys> {
  const isAll = scopes.includes('*');
  const out: ScopeKeys = new Map();
  if (!isAll) for (const scope of scopes) out.set(scope, new Map());
  const directories = isAll ? [namespacePrefix(namespace)] : scopes.map((s) => scopePrefix(namespace, s));
  for (const prefix of directories) {
    const directory = prefix.replace(/\/$/, '') || '/';
    const answer = await http.get(encodePath(directory), { recursive: 'true', quorum: 'true' });
    const body = answer.body ?? {};
    if (answer.status === 200 && body.node) {
      for (const leaf of leaves(body.node)) {
        const split = splitKey(namespace, leaf.key);
        if (!split || (!isAll && !scopes.includes(split.scope))) continue;
        let keys = out.get(split.scope);
        if (!keys) out.set(split.scope, (keys = new Map()));
        keys.set(split.key, toRaw(split.key, leaf));
      }
    } else if (body.errorCode !== V2_KEY_NOT_FOUND) {
      throw v2Error(body, `reading ${directory}`);
    }
  }
  return out;
}
