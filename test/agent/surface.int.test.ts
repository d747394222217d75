import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { sleep, startEtcd, waitFor, type EtcdCluster } from '../harness/index.js';
import { startAgentCluster, type AgentCluster } from './helpers.js';

// A real agent (etcd + PostgreSQL 15): SIGHUP and POST /reload re-read the YAML, and a cluster config
// with an unknown parameter and an injected line does not stop PostgreSQL at its next start.
let etcd: EtcdCluster;
let cluster: AgentCluster;
const REST = { username: 'admin', password: 'rest-secret' };
const headers = {
  Authorization: `Basic ${Buffer.from(`${REST.username}:${REST.password}`).toString('base64')}`,
  'Content-Type': 'application/json',
};
let original: string;

before(async () => {
  etcd = await startEtcd();
  cluster = await startAgentCluster({ scope: 'surface', nodes: 1, etcd, restApiAuth: REST });
  cluster.start('pg1');
  await cluster.waitForLeader({ timeoutMs: 90_000 });
  original = readFileSync(cluster.node('pg1').configPath, 'utf8');
});

after(async () => {
  await cluster?.stopAll();
  await etcd?.stop();
});

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${cluster.node('pg1').apiUrl}${path}`, { headers, ...init, signal: AbortSignal.timeout(60_000) });

test('SIGHUP reloads the YAML instead of ending the agent', async () => {
  cluster.group.signal('pg1', 'SIGHUP');
  await waitFor(() => (/reloaded .*pg1\.yml/.test(cluster.logTail('pg1', 40)) ? true : null), {
    what: 'the reload in the agent log',
    timeoutMs: 10_000,
  });
  await sleep(500);
  assert.equal(cluster.group.isRunning('pg1'), true, cluster.logTail('pg1'));
  assert.equal(await cluster.isInRecovery('pg1'), false);
});

test('POST /reload applies new tags live; an invalid file is refused and the agent keeps running', async () => {
  const path = cluster.node('pg1').configPath;
  writeFileSync(path, original.replace(/^tags: .*$/m, 'tags: {"zone":"b"}'));
  const ok = await api('/reload', { method: 'POST' });
  assert.equal(ok.status, 202);
  assert.match(await ok.text(), /applied tags/);
  await waitFor(
    async () => (/"zone":"b"/.test((await etcd.get('/service/surface/members/pg1')) ?? '') ? true : null),
    { what: 'the new tag in the member key', timeoutMs: 15_000 },
  );
  writeFileSync(path, original.replace(/^scope: .*$/m, 'scope: "not a scope!"'));
  const bad = await api('/reload', { method: 'POST' });
  assert.equal(bad.status, 500);
  assert.match(await bad.text(), /not reloaded, kept the running configuration: .*scope/);
  writeFileSync(path, original);
  assert.equal(cluster.group.isRunning('pg1'), true);
});

test('an unknown parameter and an injected line in the cluster config do not stop PostgreSQL', async () => {
  const patch = await api('/config', {
    method: 'PATCH',
    body: JSON.stringify({
      postgresql: {
        parameters: { bogus_parameter: 1, "work_mem = '1MB'\nfsync": 'off', work_mem: '8MB' },
      },
    }),
  });
  assert.equal(patch.status, 200);
  // The loop picks the new config up on the cycle the PATCH woke (loop_wait is 2 s).
  await sleep(2500);
  const restart = await api('/restart', { method: 'POST', body: '{}' });
  assert.equal(restart.status, 200, await restart.clone().text());
  assert.equal(await restart.text(), 'restarted successfully');
  const rows = await cluster.sql<{ w: string; f: string }>(
    'pg1',
    'SELECT current_setting($1) AS w, current_setting($2) AS f',
    ['work_mem', 'fsync'],
  );
  assert.deepEqual(rows[0], { w: '8MB', f: 'on' });
  assert.match(
    cluster.logTail('pg1', 80),
    /\\"bogus_parameter\\" ignored: not a parameter of this PostgreSQL/,
  );
});
