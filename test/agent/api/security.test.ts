import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent as HttpsAgent, fetch as undiciFetch } from 'undici';
import { createApiServer, type AgentApi, type RestApiSecurity } from '../../../agent/api/server.js';
import type { NodeView } from '../../../agent/api/view.js';
import type { RestApiTls } from '../../../agent/config/load.js';
import { parseAgentConfig } from '../../../agent/config/load.js';
import { confirmFailsafe } from '../../../agent/peers.js';
import { buildClusterState } from '../../../src/cluster/index.js';
import { ConfigError } from '../../../src/errors.js';
import { makeCertificates, type TestCertificates } from '../../harness/index.js';
import { cluster } from '../ha/fixtures.js';
import { leaderView, nodeYaml } from '../fixtures.js';

const state = cluster({ members: undefined });
const view: NodeView = leaderView(state);
let restarts = 0;
const api: AgentApi = {
  view: () => view,
  refreshView: async () => view,
  readCluster: async () => state,
  probePeers: async () => new Map(),
  writeFailover: async () => undefined,
  clearFailover: async () => undefined,
  writeConfig: async () => true,
  wake: () => undefined,
  restart: async () => (restarts++, { ok: true, message: 'restarted successfully' }),
  reinitialize: async () => ({ ok: true, message: 'reinitialize started' }),
  reload: () => undefined,
  acceptFailsafe: () => ({ ok: false, lsn: null, message: 'Running as a leader' }),
  waitForLeaderChange: async () => 'pg2',
};

const YAML = (restapi: string) => nodeYaml(restapi);

let dir: string;
let certs: TestCertificates;
const servers: Server[] = [];

async function serve(security: RestApiSecurity, hooks = {}): Promise<number> {
  const server = createApiServer(api, () => security, hooks) as Server;
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

function tls(verifyClient: RestApiTls['verifyClient']): RestApiTls {
  return {
    certfile: certs.serverCert,
    keyfile: certs.serverKey,
    keyfilePassword: undefined,
    cafile: certs.ca,
    verifyClient,
  };
}

function client(withCert: boolean): HttpsAgent {
  return new HttpsAgent({
    connect: {
      ca: readFileSync(certs.ca),
      ...(withCert ? { cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } : {}),
    },
  });
}

const fetchVia = (
  agent: HttpsAgent,
  url: string,
  init: { method?: string; headers?: Record<string, string> } = {},
) => undiciFetch(url, { ...init, dispatcher: agent });

before(async () => {
  dir = mkdtempSync('/tmp/sy-restapi-tls-');
  certs = await makeCertificates(dir);
});

after(async () => {
  await Promise.all(
    servers.map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))),
  );
  rmSync(dir, { recursive: true, force: true });
});

test('a config without restapi.authentication is refused, naming the key and the way out', () => {
  assert.throws(
    () => parseAgentConfig(YAML(''), 'node.yml'),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.exitCode === 2 &&
      err.problems.some(
        (p) =>
          p.startsWith('node.yml: restapi.authentication: required') &&
          p.includes('restapi.allow_unauthenticated_writes: true'),
      ),
  );
  const open = parseAgentConfig(YAML(', allow_unauthenticated_writes: true'), 'node.yml').config;
  assert.equal(open.restapi.allowUnauthenticatedWrites, true);
  const mtls = parseAgentConfig(
    YAML(', certfile: /c.pem, keyfile: /k.pem, cafile: /ca.pem, verify_client: required'),
    'node.yml',
  ).config;
  assert.deepEqual(mtls.restapi.tls, {
    certfile: '/c.pem',
    keyfile: '/k.pem',
    keyfilePassword: undefined,
    cafile: '/ca.pem',
    verifyClient: 'required',
  });
});

test('without credentials the unsafe endpoints answer 403 unless writes are explicitly allowed', async () => {
  restarts = 0;
  const closed = await serve({ auth: null, tls: null, allowUnauthenticatedWrites: false });
  const res = await fetch(`http://127.0.0.1:${closed}/restart`, { method: 'POST' });
  assert.equal(res.status, 403);
  assert.match(await res.text(), /restapi\.authentication/);
  assert.equal(restarts, 0);
  const open = await serve({ auth: null, tls: null, allowUnauthenticatedWrites: true });
  assert.equal((await fetch(`http://127.0.0.1:${open}/restart`, { method: 'POST' })).status, 200);
  assert.equal(restarts, 1);
});

test('the REST API is served over TLS; verify_client required refuses a client without a certificate', async () => {
  const port = await serve({ auth: null, tls: tls('required'), allowUnauthenticatedWrites: false });
  const url = `https://127.0.0.1:${port}`;
  await assert.rejects(fetchVia(client(false), `${url}/health`));
  const ok = await fetchVia(client(true), `${url}/health`);
  assert.equal(ok.status, 200);
  const restart = await fetchVia(client(true), `${url}/restart`, { method: 'POST' });
  assert.equal(restart.status, 200);
});

test('verify_client optional: reads need no certificate, unsafe requests do', async () => {
  const port = await serve({
    auth: { username: 'admin', password: 'secret' },
    tls: tls('optional'),
    allowUnauthenticatedWrites: false,
  });
  const url = `https://127.0.0.1:${port}`;
  assert.equal((await fetchVia(client(false), `${url}/health`)).status, 200);
  const headers = { Authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}` };
  const noCert = await fetchVia(client(false), `${url}/restart`, { method: 'POST', headers });
  assert.equal(noCert.status, 403);
  assert.equal(await noCert.text(), 'client certificate required');
  const withCert = await fetchVia(client(true), `${url}/restart`, { method: 'POST', headers });
  assert.equal(withCert.status, 200);
});

test('POST /reload answers with what the reload did', async () => {
  const port = await serve(
    { auth: null, tls: null, allowUnauthenticatedWrites: true },
    { reload: async () => ({ ok: false, message: 'node.yml not reloaded, kept the running configuration' }) },
  );
  const res = await fetch(`http://127.0.0.1:${port}/reload`, { method: 'POST' });
  assert.equal(res.status, 500);
  assert.equal(await res.text(), 'node.yml not reloaded, kept the running configuration');
});

test('REST credentials go only to failsafe URLs whose host is a known member api_url', async () => {
  const seen: { path: string; headers: IncomingHttpHeaders }[] = [];
  const listen = async () => {
    const s = createServer((req, res) => {
      seen.push({ path: req.url ?? '', headers: req.headers });
      res.writeHead(200).end('Accepted');
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return (s.address() as AddressInfo).port;
  };
  const [member, stranger] = [await listen(), await listen()];
  const members = buildClusterState('lab', [
    {
      key: 'members/pg2',
      value: JSON.stringify({
        conn_url: 'postgres://127.0.0.1:5433/postgres',
        api_url: `http://127.0.0.1:${member}/patroni`,
        state: 'running',
        role: 'replica',
      }),
      modRevision: 1,
      lease: '0',
    },
  ]).members;
  const ok = await confirmFailsafe(
    {
      pg1: 'http://127.0.0.1:1/patroni',
      pg2: `http://127.0.0.1:${member}/patroni`,
      pg3: `http://127.0.0.1:${stranger}/patroni`,
    },
    { name: 'pg1', connUrl: 'postgres://x', apiUrl: 'http://127.0.0.1:1/patroni' },
    { username: 'admin', password: 'secret' },
    members,
  );
  assert.equal(ok, true);
  const byPort = (p: number) => seen.find((s) => s.headers.host === `127.0.0.1:${p}`);
  assert.equal(
    byPort(member)?.headers.authorization,
    `Basic ${Buffer.from('admin:secret').toString('base64')}`,
  );
  assert.equal(byPort(stranger)?.headers.authorization, undefined);
  assert.equal(byPort(stranger)?.path, '/failsafe');
});
