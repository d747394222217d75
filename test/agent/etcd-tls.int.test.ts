import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcd, type EtcdCluster } from '../harness/index.js';
import { startAgentCluster, type AgentCluster } from './helpers.js';

// The agent talks to etcd over TLS with a client certificate and with username/password auth, from
// the `etcd3:` keys of patroni.yml (protocol, cacert, cert, key, username, password).
let etcd: EtcdCluster | undefined;
let cluster: AgentCluster | undefined;

after(async () => {
  await cluster?.stopAll();
  await etcd?.stop();
});

test('an agent cluster bootstraps and clones over TLS + client certificate + etcd auth', async () => {
  etcd = await startEtcd({ tls: true, auth: { username: 'root', password: 'etcd-root-pw' } });
  const tls = etcd.tls!;
  cluster = await startAgentCluster({
    scope: 'tls',
    nodes: 2,
    etcd,
    etcd3Extra: {
      protocol: 'https',
      cacert: tls.ca,
      cert: tls.cert,
      key: tls.key,
      username: 'root',
      password: 'etcd-root-pw',
    },
  });
  for (const n of cluster.nodes) cluster.start(n.name);
  const leader = await cluster.waitForLeader({ timeoutMs: 90_000 });
  await cluster.waitForReplicas(['pg1', 'pg2']);
  const member = await etcd.get(`/service/tls/members/${leader}`);
  assert.match(member ?? '', /"role":"master"/);
  for (const n of cluster.nodes) assert.doesNotMatch(cluster.logTail(n.name, 200), /etcd-root-pw/);
});
