import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { test } from 'node:test';
import { parseRouterConfig } from '../../../src/config/router.js';
import type { RouteLeader } from '../../../src/route/view.js';
import {
  judgePatroniStatus,
  probeOnce,
  probeSettingsOf,
  probeUntilWritable,
  type ProbeSettings,
} from '../../../src/router/leader-health/probe.js';

const config = (probe: string) => `
dcs: { type: etcd3, hosts: ["127.0.0.1:2379"] }
clusters: ["app"]
${probe}
targets:
  haproxy:
    output: /tmp/haproxy.cfg
    check: "haproxy -c -f {{file}}"
    reload: "true"
    frontends:
      app: { primary: "127.0.0.1:5000" }
`;

/** A stand-in Patroni REST API that counts requests per path; `/primary` answers 200 (lock held). */
async function fakePatroni(roleAt: (n: number) => { role: string; state: string }, answerAfterMs = 0) {
  const seen: string[] = [];
  let patroniRequests = 0;
  const server: Server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/primary') return void res.writeHead(200).end('{}');
    if (req.url !== '/patroni') return void res.writeHead(404).end();
    const n = patroniRequests++;
    // Like Patroni: the role is read when the request arrives, the answer leaves a while later.
    const body = JSON.stringify({ ...roleAt(n), server_version: 150000 });
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(body), answerAfterMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const leader: RouteLeader = {
    name: 'pg2',
    host: '127.0.0.1',
    port: 1,
    api: { host: '127.0.0.1', port },
    isWritable: false,
    reason: 'leader pg2 reports role replica, not primary',
    leaderRevision: 9,
    isLost: false,
    lostReason: null,
  };
  return {
    leader,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const rest: ProbeSettings = {
  method: 'rest',
  intervalMs: 10,
  timeoutMs: 3000,
  user: 'postgres',
  dbname: 'postgres',
  password: undefined,
};

test('the default writable probe needs no login: it reads the live role over REST', () => {
  const settings = probeSettingsOf(parseRouterConfig(config(''), '/etc/switchyard/router.yml'));
  assert.equal(settings.method, 'rest');
  assert.equal(settings.intervalMs, 20);
});

test('the default writable probe logs in with SQL when a password is configured', () => {
  const text = config('routing: { writable_probe: { password: secret } }');
  assert.equal(probeSettingsOf(parseRouterConfig(text, '/etc/switchyard/router.yml')).method, 'sql');
});

test('an explicit member probe stays member', () => {
  const text = config('routing: { writable_probe: { method: member, password: secret } }');
  assert.equal(probeSettingsOf(parseRouterConfig(text, '/etc/switchyard/router.yml')).method, 'member');
});

test('a Patroni 3.x master or 4.x primary that is running counts as writable', () => {
  assert.deepEqual(judgePatroniStatus(200, { role: 'master', state: 'running' }), { isWritable: true });
  assert.deepEqual(judgePatroniStatus(200, { role: 'primary', state: 'running' }), { isWritable: true });
});

test('a replica, a promoting node, a failed status query or a malformed answer is not writable', () => {
  for (const [code, body] of [
    [200, { role: 'replica', state: 'running' }],
    [200, { role: 'promoted', state: 'running' }],
    // Patroni reports state "unknown" with its cached role when its own pg_is_in_recovery() query fails
    [200, { role: 'master', state: 'unknown' }],
    [200, { role: 'master', state: 'starting' }],
    [503, { role: 'master', state: 'running' }],
    [200, null],
    [200, ['master']],
    [200, { role: 7, state: 'running' }],
  ] as const) {
    assert.equal(judgePatroniStatus(code, body).isWritable, false, JSON.stringify(body));
  }
});

test('the REST probe ignores /primary (200 on the lock alone) and waits for the live role', async () => {
  const node = await fakePatroni(() => ({ role: 'replica', state: 'running' }));
  try {
    const outcome = await probeOnce(node.leader, rest, 500);
    assert.equal(outcome.isWritable, false);
    assert.deepEqual(node.seen, ['/patroni']);
  } finally {
    await node.close();
  }
});

test('the REST probe sees promotion within one interval of GET /patroni turning primary', async () => {
  const node = await fakePatroni((n) => ({ role: n < 5 ? 'replica' : 'master', state: 'running' }));
  try {
    const started = Date.now();
    const outcome = await probeUntilWritable(node.leader, rest, () => true);
    const elapsed = Date.now() - started;
    assert.equal(outcome.isWritable, true);
    assert.equal(node.seen.length, 6, 'one request per interval, none after the answer');
    assert.ok(elapsed < 1000, `took ${elapsed} ms for 6 polls 10 ms apart`);
  } finally {
    await node.close();
  }
});

test('slow answers overlap: a promotion is seen one answer after it, not two', async () => {
  // Each answer takes 100 ms; the node is primary from 110 ms on. Waiting for every answer before the
  // next request (the old probe) asked at 0, 100 and 200 ms and saw it at ~300 ms (190 ms late);
  // requests every 10 ms, overlapping, see it at ~220 ms (one started just after 110 ms).
  const promotedAt = Date.now() + 110;
  const node = await fakePatroni(
    () => ({ role: Date.now() >= promotedAt ? 'master' : 'replica', state: 'running' }),
    100,
  );
  try {
    const outcome = await probeUntilWritable(node.leader, rest, () => true);
    const seenAfter = Date.now() - promotedAt;
    assert.equal(outcome.isWritable, true);
    assert.ok(seenAfter < 160, `seen ${seenAfter} ms after the promotion (one answer is 100 ms)`);
    assert.ok(
      node.seen.length <= 3 * 4,
      `at most 3 requests in flight per answer (${node.seen.length} sent)`,
    );
  } finally {
    await node.close();
  }
});

test('the REST probe stops, bounded, when the leadership it probes is no longer current', async () => {
  const node = await fakePatroni(() => ({ role: 'replica', state: 'running' }));
  try {
    let calls = 0;
    const outcome = await probeUntilWritable(node.leader, rest, () => ++calls < 4);
    assert.equal(outcome.isWritable, false);
    assert.ok(node.seen.length <= 3, `asked ${node.seen.length} times`);
  } finally {
    await node.close();
  }
});
