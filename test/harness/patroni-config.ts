import { join } from 'node:path';
import type { PatroniClusterOptions, PatroniNode } from './patroni.js';

import { PG_BIN } from './stack.js';
/** Superuser and replication credentials every harness Patroni cluster uses (pg_hba trusts loopback anyway). */
export const PATRONI_SUPERUSER = { username: 'postgres', password: 'postgres-test-pw' };
export const PATRONI_REPLICATION = { username: 'replicator', password: 'replicator-test-pw' };

/**
 * The patroni.yml of one harness node (as an object, for yaml.stringify): loopback addresses, fast
 * PostgreSQL settings (fsync off, small buffers), pg_hba trust on 127.0.0.1, pg_rewind on, watchdog off.
 */
export function buildPatroniConfig(
  options: PatroniClusterOptions,
  node: PatroniNode,
  nodeDir: string,
  etcdHosts: string[],
): Record<string, unknown> {
  const etcd = options.etcd;
  const etcd3: Record<string, unknown> = { hosts: etcdHosts, protocol: etcd?.protocol ?? 'http' };
  if (etcd?.tls) Object.assign(etcd3, { cacert: etcd.tls.ca });
  if (etcd?.tls && etcd.clientCertAuth !== false)
    Object.assign(etcd3, { cert: etcd.tls.cert, key: etcd.tls.key });
  if (etcd?.auth) Object.assign(etcd3, { username: etcd.auth.username, password: etcd.auth.password });
  Object.assign(etcd3, options.extraEtcd3);
  const restapi: Record<string, unknown> = {
    listen: `127.0.0.1:${node.apiPort}`,
    connect_address: `127.0.0.1:${node.apiPort}`,
  };
  if (options.restApiAuth) restapi.authentication = { ...options.restApiAuth };
  return {
    scope: options.scope,
    namespace: options.namespace ?? '/service',
    name: node.name,
    log: { level: 'INFO' },
    restapi,
    [options.dcsApi ?? 'etcd3']: etcd3,
    bootstrap: {
      dcs: {
        ttl: options.ttl ?? 10,
        loop_wait: options.loopWait ?? 2,
        retry_timeout: options.retryTimeout ?? 4,
        maximum_lag_on_failover: 1048576,
        synchronous_mode: options.synchronousMode ?? false,
        failsafe_mode: options.failsafeMode ?? false,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: {
            wal_level: 'replica',
            hot_standby: 'on',
            wal_log_hints: 'on',
            max_connections: 50,
            max_wal_senders: 10,
            max_replication_slots: 10,
            wal_keep_size: '64MB',
          },
        },
        ...options.extraDcs,
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }, 'no-sync'],
    },
    postgresql: {
      listen: `127.0.0.1:${node.pgPort}`,
      connect_address: `127.0.0.1:${node.pgPort}`,
      data_dir: node.dataDir,
      bin_dir: PG_BIN,
      pgpass: join(nodeDir, 'pgpass'),
      authentication: {
        superuser: { ...PATRONI_SUPERUSER },
        replication: { ...PATRONI_REPLICATION },
      },
      basebackup: [{ checkpoint: 'fast' }],
      pg_hba: [
        'local all all trust',
        'host all all 127.0.0.1/32 trust',
        'host replication all 127.0.0.1/32 trust',
      ],
      parameters: {
        unix_socket_directories: nodeDir,
        fsync: 'off',
        full_page_writes: 'on', // pg_rewind needs it (or checksums)
        shared_buffers: '16MB',
        max_wal_size: '256MB',
        logging_collector: 'off',
        log_min_messages: 'warning',
        ...options.pgParameters,
      },
      ...options.extraPostgresql?.(node, join(nodeDir, 'patroni.yml')),
    },
    watchdog: { mode: 'off' },
    tags: {
      nofailover: false,
      noloadbalance: false,
      clonefrom: false,
      nosync: false,
      ...options.tags?.[node.name],
    },
  };
}
