import { connectEtcd, type EtcdConnection } from './connect.js';
import { EtcdV2Source } from './etcd2.js';
import { EtcdSource, type DcsSource, type SourceListener, type SourceOptions } from './source.js';

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
      const source = await EtcdV2Source.open(conn, options, listener);
      return { source, close: () => undefined };
    }
  }
}
