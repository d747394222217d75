import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { Agent, request } from 'undici';
import type { RawKey } from '../../src/cluster/index.js';
import { EtcdV2Source, type EtcdV2Tuning } from '../../src/dcs/etcd2.js';
import type { SourceHealth, SourceListener } from '../../src/dcs/source.js';
import type { EtcdConnection } from '../../src/dcs/connect.js';
import { freePort, startEtcd, waitFor, type EtcdCluster } from '../harness/index.js';
import { memberJson } from '../harness/router.js';

// etcd 3.4 with --enable-v2: the v2 source reads, watches and resyncs Patroni's v2 keys.
let etcd: EtcdCluster;
const log = pino({ level: 'silent' });

before(async () => {
  etcd = await startEtcd({ enableV2: true });
});
after(async () => {
  await etcd?.stop();
});

interface V2Client {
  url: string;
  dispatcher?: Agent;
  auth?: { username: string; password: string };
}

/** One v2 HTTP call, as Patroni's python-etcd makes it (form-encoded body). Returns status and JSON. */
async function v2(
  client: V2Client,
  method: 'PUT' | 'DELETE' | 'GET',
  path: string,
  form: Record<string, string> = {},
  json?: object,
): Promise<{ status: number; body: { node?: { createdIndex: number; modifiedIndex: number } } }> {
  const headers: Record<string, string> = {};
  if (client.auth)
    headers.authorization = `Basic ${Buffer.from(`${client.auth.username}:${client.auth.password}`).toString('base64')}`;
  let body: string | undefined;
  if (json) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (Object.keys(form).length > 0) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  const res = await request(`${client.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
    ...(client.dispatcher ? { dispatcher: client.dispatcher } : {}),
    headersTimeout: 5000,
    bodyTimeout: 5000,
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : {} };
}

function plain(cluster: EtcdCluster): V2Client {
  return { url: cluster.clientUrls[0] as string };
}

/** Records what the source delivers, with the time of each delivery. */
class Recorder implements SourceListener {
  scopes = new Map<string, readonly RawKey[]>();
  deliveries: Array<{ at: number; scope: string; leader: string | undefined }> = [];
  gone: string[] = [];
  healths: SourceHealth[] = [];
  onScope(scope: string, keys: readonly RawKey[]): void {
    this.scopes.set(scope, keys);
    this.deliveries.push({ at: Date.now(), scope, leader: keys.find((k) => k.key === 'leader')?.value });
  }
  onScopeGone(scope: string): void {
    this.scopes.delete(scope);
    this.gone.push(scope);
  }
  onHealth(health: SourceHealth): void {
    this.healths.push(health);
  }
  leader(scope: string): RawKey | undefined {
    return this.scopes.get(scope)?.find((k) => k.key === 'leader');
  }
  get isConnected(): boolean {
    return this.healths.at(-1)?.isConnected === true;
  }
}

async function follow(
  conn: EtcdConnection,
  clusters: string[],
  checkIntervalMs = 200,
  tuning: EtcdV2Tuning = {},
): Promise<{ source: EtcdV2Source; seen: Recorder }> {
  const seen = new Recorder();
  const source = await EtcdV2Source.open(
    { requestTimeoutMs: 1000, ...conn },
    { namespace: '/service', clusters, checkIntervalMs, log, backoff: { initialMs: 50, maxMs: 500 } },
    seen,
    tuning,
  );
  source.start();
  return { source, seen };
}

/**
 * Writes `/service/<scope>/leader` = `leader` (default pg1), follows `clusters` (default the scope) from
 * `hosts` (default etcd's), waits until the source sees that leader (`what`), runs `body`, stops the source.
 */
async function withFollowed(
  scope: string,
  o: {
    leader?: string;
    what?: string;
    hosts?: string[];
    clusters?: string[];
    checkIntervalMs?: number;
    tuning?: EtcdV2Tuning;
  },
  body: (f: { c: V2Client; source: EtcdV2Source; seen: Recorder }) => Promise<void>,
): Promise<void> {
  const c = plain(etcd);
  const leader = o.leader ?? 'pg1';
  await v2(c, 'PUT', `/v2/keys/service/${scope}/leader`, { value: leader });
  const { source, seen } = await follow(
    { hosts: o.hosts ?? etcd.endpoints },
    o.clusters ?? [scope],
    o.checkIntervalMs,
    o.tuning,
  );
  try {
    await waitFor(() => seen.leader(scope)?.value === leader, { what: o.what ?? `leader ${leader}` });
    await body({ c, source, seen });
  } finally {
    await source.stop();
  }
}

test('the snapshot holds every Patroni key of the scope; the leader revision is its createdIndex, stable across heartbeats', async () => {
  const c = plain(etcd);
  await v2(c, 'PUT', '/v2/keys/service/snap/config', { value: '{"ttl":30}' });
  await v2(c, 'PUT', '/v2/keys/service/snap/members/pg1', { value: memberJson(5432, 'master'), ttl: '30' });
  const created = await v2(c, 'PUT', '/v2/keys/service/snap/leader', {
    value: 'pg1',
    ttl: '30',
    prevExist: 'false',
  });
  // Patroni's heartbeat: compareAndSwap with prevValue and a fresh TTL (modifiedIndex moves on).
  await v2(c, 'PUT', '/v2/keys/service/snap/leader', { value: 'pg1', ttl: '30', prevValue: 'pg1' });
  await v2(c, 'PUT', '/v2/keys/service/other/leader', { value: 'x' });
  const { source, seen } = await follow({ hosts: etcd.endpoints }, ['snap']);
  try {
    await waitFor(() => seen.isConnected, { what: 'the first snapshot' });
    assert.deepEqual([...(seen.scopes.get('snap') ?? [])].map((k) => k.key).sort(), [
      'config',
      'leader',
      'members/pg1',
    ]);
    assert.deepEqual([...seen.scopes.keys()], ['snap'], 'other scopes are not followed');
    const leader = seen.leader('snap');
    assert.equal(leader?.value, 'pg1');
    assert.equal(leader?.modRevision, created.body.node?.createdIndex);
    // A heartbeat seen through the watch keeps the leader revision.
    const before = seen.deliveries.length;
    await v2(c, 'PUT', '/v2/keys/service/snap/leader', { value: 'pg1', ttl: '30', prevValue: 'pg1' });
    await waitFor(() => seen.deliveries.length > before, { what: 'the heartbeat event' });
    assert.equal(seen.leader('snap')?.modRevision, created.body.node?.createdIndex);
  } finally {
    await source.stop();
  }
});

test('the watch delivers a leader change within milliseconds, and a leader key that expires by TTL as a delete', async () => {
  const c = plain(etcd);
  await v2(c, 'PUT', '/v2/keys/service/watch/leader', { value: 'pg1', ttl: '30' });
  const { source, seen } = await follow({ hosts: etcd.endpoints }, ['watch']);
  try {
    await waitFor(() => seen.leader('watch')?.value === 'pg1', { what: 'leader pg1 in the snapshot' });
    const resyncs = source.current().resyncs;
    const lags: number[] = [];
    for (const [i, name] of ['pg2', 'pg3', 'pg1', 'pg2', 'pg3'].entries()) {
      await new Promise((r) => setTimeout(r, 50 + i));
      const t0 = Date.now();
      await v2(c, 'DELETE', '/v2/keys/service/watch/leader');
      await v2(c, 'PUT', '/v2/keys/service/watch/leader', { value: name, ttl: '30', prevExist: 'false' });
      await waitFor(() => seen.leader('watch')?.value === name, { what: `leader ${name}`, intervalMs: 1 });
      lags.push(Date.now() - t0);
    }
    lags.sort((a, b) => a - b);
    console.log(`v2 watch: leader change delivered in ${lags.join(', ')} ms (two v2 writes included)`);
    assert.ok((lags[2] as number) < 200, `median delivery ${lags[2]} ms`);
    // TTL expiry: etcd's `expire` event removes the key.
    await v2(c, 'PUT', '/v2/keys/service/watch/leader', { value: 'pg1', ttl: '1', prevValue: 'pg3' });
    await waitFor(() => seen.leader('watch')?.value === 'pg1', { what: 'leader pg1 with a 1 s TTL' });
    const t0 = Date.now();
    await waitFor(() => seen.leader('watch') === undefined, {
      what: 'the leader key expired',
      timeoutMs: 5000,
    });
    console.log(`v2 watch: TTL expiry of the leader seen after ${Date.now() - t0} ms (TTL 1 s)`);
    assert.equal(
      source.current().resyncs,
      resyncs,
      'changes and expiry came through the watch, not a resync',
    );
  } finally {
    await source.stop();
  }
});

test('after etcd drops the events the watch needs (EventIndexCleared), the source resyncs to the current leader', async () => {
  const c = plain(etcd);
  await v2(c, 'PUT', '/v2/keys/service/behind/leader', { value: 'pg1' });
  const { source, seen } = await follow({ hosts: etcd.endpoints }, ['behind'], 60_000);
  try {
    await waitFor(() => seen.leader('behind')?.value === 'pg1', { what: 'leader pg1 in the snapshot' });
    await new Promise((r) => setTimeout(r, 100)); // the long poll is waiting
    const resyncs = source.current().resyncs;
    // Block this process (the watcher falls behind) while another process writes: a leader change the
    // pending long poll answers with, then 1100 events elsewhere (v2 keeps the last 1000), then the
    // final leader.
    const script = `
import http.client, sys, urllib.parse
host, port = sys.argv[1].split(':')
c = http.client.HTTPConnection(host, int(port), timeout=5)
def put(key, value):
    c.request('PUT', '/v2/keys' + key, urllib.parse.urlencode({'value': value}), {'Content-Type': 'application/x-www-form-urlencoded'})
    r = c.getresponse(); r.read()
    assert r.status in (200, 201), r.status
put('/service/behind/leader', 'pg2')
for i in range(1100):
    put('/service/noise/members/n', str(i))
put('/service/behind/leader', 'pg3')
`;
    execFileSync('python3', ['-c', script, etcd.endpoints[0] as string], { timeout: 60_000 });
    await waitFor(() => seen.leader('behind')?.value === 'pg3', {
      what: 'leader pg3 after the resync',
      timeoutMs: 10_000,
    });
    assert.ok(
      seen.healths.some((h) => /event index \d+ cleared/.test(h.lastError ?? '')),
      `health reported the cleared index: ${JSON.stringify(seen.healths.map((h) => h.lastError))}`,
    );
    assert.equal(source.current().resyncs, resyncs + 1, 'one resync');
    assert.equal(source.current().isConnected, true);
  } finally {
    await source.stop();
  }
});

test('a quiet long poll is re-issued after its window without a resync, and the next change still arrives', async () => {
  const opts = { checkIntervalMs: 60_000, tuning: { watchWindowMs: 300 } };
  await withFollowed('quiet', opts, async ({ c, source, seen }) => {
    const resyncs = source.current().resyncs;
    // Several windows pass while other scopes change (the index moves on without events for this one).
    for (let i = 0; i < 10; i++) {
      await v2(c, 'PUT', '/v2/keys/service/elsewhere/leader', { value: `x${i}` });
      await new Promise((r) => setTimeout(r, 100));
    }
    await v2(c, 'PUT', '/v2/keys/service/quiet/leader', { value: 'pg2' });
    await waitFor(() => seen.leader('quiet')?.value === 'pg2', { what: 'leader pg2 after quiet windows' });
    assert.equal(source.current().resyncs, resyncs, 'no resync for a quiet window');
    assert.equal(source.current().isConnected, true);
  });
});

test('with a dead endpoint listed first, the source moves on to the next one', async () => {
  const dead = `127.0.0.1:${await freePort()}`;
  const hosts = [dead, ...etcd.endpoints];
  await withFollowed('failover', { hosts, what: 'leader pg1 through the second host' }, async ({ seen }) => {
    assert.match(
      seen.healths[0]?.lastError ?? '',
      new RegExp(`etcd unavailable \\(GET http://${dead}/v2/keys`),
    );
  });
});

test('clusters ["*"] follows every scope under the namespace, including one created later and one removed', async () => {
  await withFollowed('star1', { leader: 'a1', what: 'scope star1', clusters: ['*'] }, async ({ c, seen }) => {
    await v2(c, 'PUT', '/v2/keys/service/star2/leader', { value: 'b1' });
    await waitFor(() => seen.leader('star2')?.value === 'b1', { what: 'scope star2 created later' });
    await v2(c, 'DELETE', '/v2/keys/service/star2?recursive=true');
    await waitFor(() => seen.gone.includes('star2'), { what: 'scope star2 removed (patronictl remove)' });
    assert.equal(seen.leader('star1')?.value, 'a1');
  });
});

test('an etcd restart is a lost watch: the source reports etcd unreachable, then resyncs to what was written meanwhile', async () => {
  await withFollowed('restart', {}, async ({ c, seen }) => {
    await etcd.kill();
    await waitFor(() => !seen.isConnected, { what: 'the source reports etcd down' });
    assert.equal(
      seen.healths.at(-1)?.lastError?.includes('etcd unavailable'),
      true,
      seen.healths.at(-1)?.lastError ?? '',
    );
    await etcd.restart();
    await v2(c, 'PUT', '/v2/keys/service/restart/leader', { value: 'pg2' });
    await waitFor(() => seen.isConnected && seen.leader('restart')?.value === 'pg2', {
      what: 'leader pg2 after etcd came back',
      timeoutMs: 20_000,
    });
  });
});

test('a stalled etcd (SIGSTOP) is reported unreachable within the request deadline; after SIGCONT the source follows again', async () => {
  await withFollowed('stall', {}, async ({ c, seen }) => {
    const t0 = Date.now();
    etcd.pause();
    try {
      await waitFor(() => !seen.isConnected, {
        what: 'the source reports the stall',
        timeoutMs: 5000,
        intervalMs: 10,
      });
    } finally {
      etcd.resume();
    }
    const ms = Date.now() - t0;
    assert.ok(ms < 2500, `reported after ${ms} ms (check every 200 ms, deadline 1000 ms)`);
    assert.match(seen.healths.at(-1)?.lastError ?? '', /no answer within 1000 ms/);
    await v2(c, 'PUT', '/v2/keys/service/stall/leader', { value: 'pg2' });
    await waitFor(() => seen.isConnected && seen.leader('stall')?.value === 'pg2', {
      what: 'leader pg2 after the stall',
      timeoutMs: 10_000,
    });
  });
});

test('an etcd without the v2 API is refused with an error that says to enable it', async () => {
  const v3only = await startEtcd();
  const { source, seen } = await follow({ hosts: v3only.endpoints }, ['app']);
  try {
    await waitFor(() => seen.healths.length > 0, { what: 'a health report' });
    assert.equal(seen.isConnected, false);
    assert.match(
      seen.healths.at(-1)?.lastError ?? '',
      /does not serve the v2 API; start it with --enable-v2=true/,
    );
  } finally {
    await source.stop();
    await v3only.stop();
  }
});

test('over TLS with a client certificate and v2 auth: no password is refused, the right one follows the keys', async () => {
  const secure = await startEtcd({ enableV2: true, tls: true });
  const tls = secure.tls!;
  const dispatcher = new Agent({
    connect: { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) },
  });
  const auth = { username: 'root', password: 'v2-root-pw' };
  const admin: V2Client = { url: secure.clientUrls[0] as string, dispatcher };
  let started: Array<{ source: EtcdV2Source }> = [];
  try {
    await v2(admin, 'PUT', '/v2/keys/service/secure/leader', { value: 'pg1' });
    // v2 auth: a root user, auth on, and the guest role's default read/write on everything revoked.
    assert.equal(
      (await v2(admin, 'PUT', '/v2/auth/users/root', {}, { user: 'root', password: auth.password })).status,
      201,
    );
    assert.equal((await v2(admin, 'PUT', '/v2/auth/enable')).status, 200);
    const revoke = { role: 'guest', revoke: { kv: { read: ['/*'], write: ['/*'] } } };
    assert.equal((await v2({ ...admin, auth }, 'PUT', '/v2/auth/roles/guest', {}, revoke)).status, 200);

    const anonymous = await follow({ hosts: secure.endpoints, tls }, ['secure']);
    started.push(anonymous);
    await waitFor(() => anonymous.seen.healths.length > 0, { what: 'a health report without a password' });
    assert.equal(anonymous.seen.isConnected, false);
    assert.match(anonymous.seen.healths.at(-1)?.lastError ?? '', /etcd v2 refused GET .* \(HTTP 401/);
    assert.equal(anonymous.seen.scopes.size, 0);

    const authed = await follow({ hosts: secure.endpoints, tls, ...auth }, ['secure']);
    started.push(authed);
    await waitFor(() => authed.seen.leader('secure')?.value === 'pg1', {
      what: 'leader pg1 over TLS + auth',
    });
    await v2({ ...admin, auth }, 'PUT', '/v2/keys/service/secure/leader', { value: 'pg2' });
    await waitFor(() => authed.seen.leader('secure')?.value === 'pg2', {
      what: 'leader pg2 through the watch',
    });
    assert.doesNotMatch(JSON.stringify(authed.seen.healths), /v2-root-pw/, 'the password is never reported');
  } finally {
    for (const s of started) await s.source.stop();
    started = [];
    await dispatcher.close();
    await secure.stop();
  }
});
