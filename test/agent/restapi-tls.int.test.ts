import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent as HttpsAgent, fetch as undiciFetch } from 'undici';
import { join } from 'node:path';
import {
  makeCertificates,
  run,
  startEtcd,
  type EtcdCluster,
  type TestCertificates,
} from '../harness/index.js';
import { startAgentCluster, type AgentCluster } from './helpers.js';

// A real agent serving its REST API over TLS with client certificates required (Patroni's restapi keys).
let etcd: EtcdCluster;
let cluster: AgentCluster;
let certs: TestCertificates;
let dir: string;

before(async () => {
  dir = mkdtempSync('/tmp/sy-agent-tls-');
  certs = await makeCertificates(dir);
  etcd = await startEtcd();
  cluster = await startAgentCluster({
    scope: 'tls',
    nodes: 1,
    etcd,
    restapiExtra: {
      certfile: certs.serverCert,
      keyfile: certs.serverKey,
      cafile: certs.ca,
      verify_client: 'required',
    },
  });
  cluster.start('pg1');
  await cluster.waitForLeader({ timeoutMs: 90_000 });
});

after(async () => {
  await cluster?.stopAll();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const client = (withCert: boolean) =>
  new HttpsAgent({
    connect: {
      ca: readFileSync(certs.ca),
      ...(withCert ? { cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } : {}),
    },
  });

test('the agent serves its REST API over TLS and publishes an https api_url', async () => {
  const url = `https://127.0.0.1:${cluster.node('pg1').apiPort}`;
  const res = await undiciFetch(`${url}/primary`, { dispatcher: client(true) });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { role: string }).role, 'master');
  await assert.rejects(undiciFetch(`${url}/primary`, { dispatcher: client(false) }));
  await assert.rejects(fetch(`http://127.0.0.1:${cluster.node('pg1').apiPort}/primary`));
  const member = JSON.parse((await etcd.get('/service/tls/members/pg1')) ?? '{}') as { api_url?: string };
  assert.equal(member.api_url, `${url}/patroni`);
});

test('switchyard ctl reaches the HTTPS REST API with the restapi cafile and certificate', async () => {
  const root = new URL('../..', import.meta.url).pathname;
  const res = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'agent/main.ts'),
      'ctl',
      '-c',
      cluster.node('pg1').configPath,
      'restart',
      'pg1',
      '--force', // pg1 leads this one-node cluster: restarting the leader asks first
    ],
    { cwd: root, timeoutMs: 90_000, reject: false },
  );
  assert.equal(res.exitCode, 0, res.stdout + res.stderr);
  assert.match(res.stdout, /restart pg1: 200 restarted successfully/);
});
