import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Agent } from '../../agent/agent.js';
import { AgentApiImpl } from '../../agent/api-impl.js';
import { createApiServer } from '../../agent/api/server.js';
import { parseAgentConfig } from '../../agent/config/load.js';
import { observePostgres, publishPromotion, type Observation } from '../../agent/observe.js';
import { buildClusterState } from '../../src/cluster/index.js';
import { silentLogger } from '../../src/log.js';
import { startPostgres, type PostgresServer } from '../harness/index.js';
import { nodeYaml } from './fixtures.js';

// The REST view of a node whose PostgreSQL is a primary while the agent's HA loop last saw it in recovery
// (as just before a promotion) and a long task runs: `GET /patroni` must tell the live role, not the loop's.
let pg: PostgresServer;
let agent: Agent;
let server: Server;
let base: string;
let releaseTask: () => void = () => undefined;

before(async () => {
  pg = await startPostgres();
  const yaml = nodeYaml(', allow_unauthenticated_writes: true', '', pg);
  agent = new Agent(parseAgentConfig(yaml, 'node.yml').config, silentLogger());
  server = createApiServer(new AgentApiImpl(agent), () => agent.config.restapi) as Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  releaseTask();
  await new Promise((resolve) => server?.close(resolve));
  await agent?.query.close();
  await agent?.apiQuery.close();
  await pg?.stop();
});

/** The HA loop's observation of this server as it was while still a standby. */
async function standbyObservation(): Promise<Observation> {
  const real = await observePostgres(agent.control, agent.query, null, null);
  assert.ok(real.status, 'the primary answered the status query');
  return {
    status: { ...real.status, isInRecovery: true, flushLsn: null, replication: [] },
    local: { ...real.local, isInRecovery: true, wasPrimary: false },
  };
}

test('GET /patroni reports the live role of PostgreSQL while a long task runs, and never replaces the HA loop observation', async () => {
  const stale = await standbyObservation();
  agent.obs = stale;
  const gate = new Promise<void>((resolve) => (releaseTask = resolve));
  const started = await agent.startTask('restart', 'restarting', () => gate);
  assert.ok(started.isStarted, 'the task started');
  assert.equal(agent.task?.name, 'restart');

  const doc = (await (await fetch(`${base}/patroni`)).json()) as Record<string, unknown>;
  assert.equal(doc['role'], 'master', 'the live role, not the one the loop saw before the task');
  assert.equal(doc['state'], 'restarting', 'the task state, as the member key reports it');
  assert.ok(typeof (doc['xlog'] as { location?: unknown }).location === 'number');
  // Writable needs the leader lock as well: this agent does not hold it.
  assert.equal((await fetch(`${base}/primary`)).status, 503);
  assert.equal(agent.obs, stale, 'a REST request never feeds the HA loop its observation');

  releaseTask();
  if (started.isStarted) assert.equal(await started.done, null);
  assert.equal(agent.task, null);
  const after = (await (await fetch(`${base}/patroni`)).json()) as Record<string, unknown>;
  assert.equal(after['role'], 'master');
  assert.equal(after['state'], 'running');
  assert.equal(agent.obs, stale, 'not without a task either');
});

test('right after a promotion the member key is published with the live role, not the pre-promotion one', async () => {
  const written: Array<{ name: string; value: Record<string, unknown>; lease: string }> = [];
  const writer = {
    touchMember: async (name: string, value: Record<string, unknown>, lease: string) => {
      written.push({ name, value, lease });
    },
  };
  const cluster = buildClusterState('lab', []);
  const obs = await publishPromotion(
    { config: agent.config, control: agent.control, query: agent.query, writer },
    cluster,
    'lease-1',
  );
  assert.equal(obs.local.isInRecovery, false);
  assert.equal(written.length, 1);
  assert.equal(written[0]?.name, 'node1');
  assert.equal(written[0]?.lease, 'lease-1');
  assert.equal(written[0]?.value['role'], 'master');
  assert.equal(written[0]?.value['state'], 'running');
});
