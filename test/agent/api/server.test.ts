import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApiServer, type AgentApi } from '../../../agent/api/server.js';
import { mergePatch } from '../../../src/cluster/merge-patch.js';
import type { NodeView } from '../../../agent/api/view.js';
import type { PeerStatus } from '../../../agent/ha/types.js';
import { cluster, peer } from '../ha/fixtures.js';
import { leaderView } from '../fixtures.js';

const state = cluster({ members: undefined });
const calls: string[] = [];
/** The switchover path's steps in order (the handover's preparation, the member check, the key write). */
const steps: string[] = [];
let peers: Map<string, PeerStatus> = new Map([['pg2', peer('pg2')]]);
let configWins = true;

const view: NodeView = leaderView(state);

const api: AgentApi = {
  view: () => view,
  refreshView: async () => view,
  readCluster: async () => state,
  probePeers: async () => (steps.push('probe'), peers),
  prepareHandover: (_c, body) => void steps.push(`prepare ${JSON.stringify(body)}`),
  writeFailover: async (v) => void (calls.push(`failover ${JSON.stringify(v)}`), steps.push('failover')),
  clearFailover: async () => void calls.push('clear'),
  writeConfig: async (c) => (calls.push(`config ${JSON.stringify(c)}`), configWins),
  wake: () => void calls.push('wake'),
  restart: async () => ({ ok: true, message: 'restarted successfully' }),
  reinitialize: async () => ({ ok: false, message: 'I am the leader, can not reinitialize' }),
  reload: () => undefined,
  acceptFailsafe: () => ({ ok: false, lsn: null, message: 'Running as a leader' }),
  waitForLeaderChange: async () => 'pg2',
};

let server: Server;
let base: string;
const auth = { Authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}` };

before(async () => {
  server = createApiServer(api, () => ({
    auth: { username: 'admin', password: 'secret' },
    tls: null,
    allowUnauthenticatedWrites: false,
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const post = (path: string, body: unknown, headers: Record<string, string> = auth) =>
  fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });

test('unsafe endpoints need basic auth and answer 401 like Patroni', async () => {
  const missing = await post('/switchover', { leader: 'pg1' }, {});
  assert.equal(missing.status, 401);
  assert.equal(await missing.text(), 'no auth header received');
  assert.equal(missing.headers.get('www-authenticate'), 'Basic realm="Patroni"');
  const wrong = await post('/switchover', { leader: 'pg1' }, { Authorization: 'Basic eDp5' });
  assert.equal(await wrong.text(), 'not authenticated');
});

test('POST /switchover validates, writes the failover key, wakes the loop and reports the new leader', async () => {
  calls.length = 0;
  const res = await post('/switchover', { leader: 'pg1', candidate: 'pg2' });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'Successfully switched over to "pg2"');
  assert.deepEqual(calls, ['failover {"leader":"pg1","member":"pg2"}', 'wake']);
});

test('POST /switchover lets the agent start its handover work before the members are asked and the key is written', async () => {
  steps.length = 0;
  const res = await post('/switchover', { leader: 'pg1', candidate: 'pg2' });
  assert.equal(res.status, 200);
  assert.deepEqual(steps, ['prepare {"leader":"pg1","candidate":"pg2"}', 'probe', 'failover']);
});

test('POST /switchover answers 412 with the reason when it is impossible, and writes nothing', async () => {
  calls.length = 0;
  const cases: [unknown, number, string][] = [
    [{ leader: 'pg9' }, 412, 'leader name does not match'],
    [{ leader: 'pg1', candidate: 'pg1' }, 412, 'Switchover target and source are the same'],
    [{ leader: 'pg1', candidate: 'pg7' }, 412, 'Member pg7 does not exist'],
    [{ leader: 'pg1', candidate: 'pg3' }, 412, 'candidate pg3 is not healthy'],
    [{}, 400, 'Switchover could be performed only from a specific leader'],
  ];
  for (const [body, status, text] of cases) {
    const res = await post('/switchover', body);
    assert.equal(res.status, status, JSON.stringify(body));
    assert.equal(await res.text(), text);
  }
  peers = new Map();
  const none = await post('/switchover', { leader: 'pg1' });
  assert.equal(await none.text(), 'No candidates found to switchover to');
  peers = new Map([['pg2', peer('pg2')]]);
  assert.deepEqual(calls, []);
});

test('POST /failover needs a candidate; a scheduled switchover answers 202', async () => {
  const res = await post('/failover', {});
  assert.equal(res.status, 400);
  assert.equal(await res.text(), 'Failover could be performed only to a specific candidate');
  const at = new Date(Date.now() + 3600_000).toISOString();
  const sched = await post('/switchover', { leader: 'pg1', candidate: 'pg2', scheduled_at: at });
  assert.equal(sched.status, 202);
  assert.equal(await sched.text(), 'Switchover scheduled');
});

test('PATCH /config merges (null deletes) with compare-and-set; a lost race is 409', async () => {
  calls.length = 0;
  const res = await fetch(`${base}/config`, {
    method: 'PATCH',
    headers: auth,
    body: JSON.stringify({ pause: true, ttl: null }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(body['pause'], true);
  assert.equal(body['ttl'], undefined);
  configWins = false;
  const lost = await fetch(`${base}/config`, {
    method: 'PATCH',
    headers: auth,
    body: JSON.stringify({ pause: true }),
  });
  assert.equal(lost.status, 409);
  configWins = true;
});

test('health paths: GET has the status document, OPTIONS and HEAD only the status line', async () => {
  const get = await fetch(`${base}/replica`);
  assert.equal(get.status, 503);
  assert.equal(((await get.json()) as { patroni: { scope: string } }).patroni.scope, 'lab');
  const options = await fetch(`${base}/leader`, { method: 'OPTIONS' });
  assert.equal(options.status, 200);
  assert.equal(await options.text(), '');
  const cl = await fetch(`${base}/cluster`);
  assert.equal(((await cl.json()) as { members: unknown[] }).members.length, 3);
});

test('mergePatch follows RFC 7386', () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 } }, { a: null, b: { c: null, e: 4 } }), {
    b: { d: 3, e: 4 },
  });
});

test('PATCH /config that sets synchronous_mode: quorum is refused with 400 naming the key and writes nothing', async () => {
  calls.length = 0;
  const res = await fetch(`${base}/config`, {
    method: 'PATCH',
    headers: auth,
    body: JSON.stringify({ synchronous_mode: 'quorum' }),
  });
  assert.equal(res.status, 400);
  const text = await res.text();
  assert.match(text, /synchronous_mode/);
  assert.match(text, /use synchronous_mode: on/);
  assert.deepEqual(calls, []);
});

test('/readiness and /liveness answer with the status code and an empty body, like Patroni 4.0.7', async () => {
  for (const p of ['/readiness', '/liveness']) {
    const res = await fetch(`${base}${p}`);
    assert.equal(res.status, 200, p);
    assert.equal(await res.text(), '', p);
  }
});
