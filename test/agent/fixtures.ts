import type { ClusterState } from '../../src/cluster/index.js';
import type { NodeView } from '../../agent/api/view.js';

/**
 * A minimal valid node.yml: `restapi` gets `restapiExtra` appended inside its braces
 * (`, allow_unauthenticated_writes: true`, authentication, TLS), `postgresqlExtra` more lines of the
 * postgresql section (indented two spaces); `server` is the PostgreSQL it manages (a harness server's
 * port and data directory in integration tests).
 */
export function nodeYaml(
  restapiExtra: string,
  postgresqlExtra = '',
  server: { port: number; dataDir: string } = { port: 5432, dataDir: '/var/lib/pg/data' },
): string {
  return `scope: lab
name: node1
restapi: {listen: 127.0.0.1:8008, connect_address: 127.0.0.1:8008${restapiExtra}}
etcd3: {hosts: 127.0.0.1:2379}
postgresql:
  listen: 127.0.0.1:${server.port}
  connect_address: 127.0.0.1:${server.port}
  data_dir: ${server.dataDir}
  authentication: {superuser: {username: postgres}, replication: {username: replicator}}
${postgresqlExtra}`;
}

/** What the REST API of a running leader `pg1` of scope `lab` sees. */
export function leaderView(cluster: ClusterState): NodeView {
  return {
    name: 'pg1',
    scope: 'lab',
    pgState: 'running',
    pg: null,
    isLeader: true,
    cluster,
    isDcsReachable: true,
    dcsLastSeen: Date.now(),
    tags: {},
    isFailsafeActive: false,
    lastCycleAt: Date.now(),
    lastSentence: '',
    now: Date.now(),
  };
}
