import type { ClusterState } from '../../src/cluster/index.js';
import type { NodeView } from '../../agent/api/view.js';

/**
 * A minimal valid node.yml for unit tests: `restapi` gets `restapiExtra` appended inside its braces
 * (`, allow_unauthenticated_writes: true`, authentication, TLS), `postgresqlExtra` more lines of the
 * postgresql section (indented two spaces).
 */
export function nodeYaml(restapiExtra: string, postgresqlExtra = ''): string {
  return `scope: lab
name: node1
restapi: {listen: 127.0.0.1:8008, connect_address: 127.0.0.1:8008${restapiExtra}}
etcd3: {hosts: 127.0.0.1:2379}
postgresql:
  listen: 127.0.0.1:5432
  connect_address: 127.0.0.1:5432
  data_dir: /var/lib/pg/data
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
