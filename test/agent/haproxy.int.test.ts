import { test } from 'node:test';
import { freePorts, patroniHaproxyConfig, startHaproxy, waitFor } from '../harness/index.js';
import { agentLabForFile, serverBehind, switchoverAway } from './helpers.js';

// HAProxy configured as Patroni's documentation says (HTTP checks on the REST API) routes to the agent's primary.
const lab = agentLabForFile();

test("HAProxy with Patroni-style checks routes writes to the agent's leader and reads to its replica, and follows a switchover", async () => {
  const { cluster, leader } = await lab.start({ scope: 'hap', nodes: 2 });
  const [primaryPort, replicaPort] = (await freePorts(2)) as [number, number];
  const haproxy = await startHaproxy({
    config: patroniHaproxyConfig({
      nodes: cluster.nodes,
      primaryPort,
      replicaPort,
      statsSocket: `${cluster.group.dir}/haproxy.sock`,
      checkInter: '500ms',
    }),
  });
  lab.onStop(() => haproxy.stop());
  const via = (port: number, wantPg: number, inRecovery: boolean) =>
    waitFor(
      async () => {
        const b = await serverBehind(port);
        return b && b.port === wantPg && b.inRecovery === inRecovery ? b : null;
      },
      { what: `HAProxy :${port} to reach :${wantPg}`, timeoutMs: 20_000, intervalMs: 200 },
    );
  await via(primaryPort, cluster.node(leader).pgPort, false);
  const replica = leader === 'pg1' ? 'pg2' : 'pg1';
  await via(replicaPort, cluster.node(replica).pgPort, true);

  const next = await switchoverAway(cluster, leader);
  await via(primaryPort, cluster.node(next).pgPort, false);
});
