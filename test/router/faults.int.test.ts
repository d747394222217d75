import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  ProcessGroup,
  freePort,
  httpRequest,
  startEtcd,
  waitFor,
  type EtcdCluster,
} from '../harness/index.js';
import { PatroniKeys, memberValue, routerStatus, startRouterProcess } from '../harness/router.js';

// Faults and bad input around the router, with real etcd (plain, TLS with client certificates, auth)
// and the HAProxy target writing files only (no HAProxy process needed to observe them).
let group: ProcessGroup;
let etcd: EtcdCluster;
let keys: PatroniKeys;

before(async () => {
  group = ProcessGroup.create('router-faults');
  etcd = await startEtcd();
  keys = new PatroniKeys(etcd.endpoints, 'app', 10);
  await keys.config({ ttl: 3, loop_wait: 1, retry_timeout: 1 });
  await keys.member('pg1', memberValue({ port: 15432, apiPort: 18008, role: 'primary' }));
  await keys.member('pg2', memberValue({ port: 15433, apiPort: 18009, role: 'replica' }));
  await keys.leader('pg1');
});

after(async () => {
  await group?.cleanup();
  await keys?.close();
  await etcd?.stop();
});

function haproxyTarget(name: string, extra: Record<string, unknown> = {}) {
  return {
    haproxy: {
      output: `${group.dir}/${name}.cfg`,
      check: 'haproxy -c -q -f {{file}}',
      frontends: { app: { primary: '127.0.0.1:25000' } },
      ...extra,
    },
  };
}

test('etcd unreachable at start: /health is 503 with the reason and nothing is written', async () => {
  const deadPort = await freePort();
  const { api } = await startRouterProcess(group, 'no-etcd', {
    dcs: { type: 'etcd3', hosts: [`127.0.0.1:${deadPort}`], request_timeout_ms: 300 },
    clusters: ['app'],
    targets: haproxyTarget('no-etcd'),
  });
  const health = await httpRequest(`http://${api}/health`);
  assert.equal(health.status, 503);
  assert.match(JSON.parse(health.body).reasons.join(), /waiting for the first etcd read/);
  await waitFor(async () => /etcd unavailable/.test((await routerStatus(api)).dcs.last_error ?? ''), {
    what: 'the etcd error in /status',
    timeoutMs: 5000,
  });
  assert.equal(existsSync(`${group.dir}/no-etcd.cfg`), false);
  await group.stop('no-etcd');
});

test('a template error leaves the live file untouched and shows the template line in /status', async () => {
  const live = `${group.dir}/tmpl.cfg`;
  writeFileSync(live, '# the last good file\n');
  const template = group.writeFile(
    'broken.hbs',
    'global\n    maxconn {{global.maxconn}}\n    {{global.nonexistent}}\n',
  );
  const { api } = await startRouterProcess(group, 'tmpl', {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    clusters: ['app'],
    targets: haproxyTarget('tmpl', { template }),
  });
  await waitFor(
    async () =>
      (await routerStatus(api)).targets.haproxy?.last_error !== null &&
      (await routerStatus(api)).targets.haproxy?.last_error !== undefined,
    { what: 'template error in /status', timeoutMs: 5000 },
  );
  const status = await routerStatus(api);
  assert.match(status.targets.haproxy!.last_error!, /broken\.hbs: "nonexistent" not defined - line 3:/);
  assert.equal(status.healthy, false);
  assert.equal(readFileSync(live, 'utf8'), '# the last good file\n');
  assert.match(group.logTail('tmpl', 200), /failed to apply/);
  await group.stop('tmpl');
});

test('a failed check leaves the live file untouched and is reported', async () => {
  const live = `${group.dir}/checked.cfg`;
  writeFileSync(live, '# the last good file\n');
  const { api } = await startRouterProcess(group, 'checked', {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    clusters: ['app'],
    targets: haproxyTarget('checked', { check: 'echo "line 3: unknown keyword" >&2; exit 1' }),
  });
  await waitFor(async () => Boolean((await routerStatus(api)).targets.haproxy?.last_error), {
    what: 'check failure in /status',
    timeoutMs: 5000,
  });
  assert.match(
    (await routerStatus(api)).targets.haproxy!.last_error!,
    /staged file failed validation; kept the live file.*line 3: unknown keyword/s,
  );
  assert.equal(readFileSync(live, 'utf8'), '# the last good file\n');
  await group.stop('checked');
});

test('on_dcs_loss: fail_closed routes no writes once etcd has been unreachable for the cluster ttl', async () => {
  const { api } = await startRouterProcess(group, 'closed', {
    dcs: { type: 'etcd3', hosts: etcd.endpoints, request_timeout_ms: 300, check_interval_ms: 200 },
    clusters: ['app'],
    routing: { on_dcs_loss: 'fail_closed' },
    targets: haproxyTarget('closed'),
  });
  const file = `${group.dir}/closed.cfg`;
  await waitFor(() => existsSync(file) && /writes to pg1/.test(readFileSync(file, 'utf8')), {
    what: 'writes to pg1 rendered',
    timeoutMs: 10_000,
  });
  etcd.pause();
  try {
    await waitFor(() => /no writable leader/.test(readFileSync(file, 'utf8')), {
      what: 'fail-closed render after ttl (3 s)',
      timeoutMs: 15_000,
    });
    const status = await routerStatus(api);
    assert.equal(status.dcs.failed_closed, true);
    assert.match(status.reasons.join(), /fail_closed/);
  } finally {
    etcd.resume();
  }
  await waitFor(() => /writes to pg1/.test(readFileSync(file, 'utf8')), {
    what: 'routes restored when etcd is back',
    timeoutMs: 15_000,
  });
  await group.stop('closed');
});

test('follows a TLS etcd with client certificates, and one with auth (password from a file)', async () => {
  const tlsEtcd = await startEtcd({ tls: true });
  const authEtcd = await startEtcd({ auth: { username: 'root', password: 'etcd-root-pw' } });
  const writers = [tlsEtcd, authEtcd].map((e) => new PatroniKeys(e.endpoints, 'app', 10, e.tls, e.auth));
  try {
    for (const k of writers) {
      await k.member('pg7', memberValue({ port: 15432, apiPort: 18008, role: 'primary' }));
      await k.leader('pg7');
    }
    const pwFile = group.writeFile('etcd.pw', 'etcd-root-pw\n', { mode: 0o600 });
    const tls = await startRouterProcess(group, 'tls', {
      dcs: { type: 'etcd3', hosts: tlsEtcd.endpoints, tls: tlsEtcd.tls },
      clusters: ['app'],
      targets: haproxyTarget('tls'),
    });
    const auth = await startRouterProcess(group, 'auth', {
      dcs: { type: 'etcd3', hosts: authEtcd.endpoints, username: 'root', password_file: pwFile },
      clusters: ['app'],
      targets: haproxyTarget('auth'),
    });
    for (const r of [tls, auth]) {
      await waitFor(async () => (await routerStatus(r.api)).clusters['app']?.leader === 'pg7', {
        what: 'leader read through TLS/auth',
        timeoutMs: 10_000,
      });
    }
    assert.doesNotMatch(group.logTail('auth', 500), /etcd-root-pw/, 'the password never reaches the logs');
    const wrong = await startRouterProcess(group, 'auth-wrong', {
      dcs: {
        type: 'etcd3',
        hosts: authEtcd.endpoints,
        username: 'root',
        password: 'nope',
        request_timeout_ms: 500,
      },
      clusters: ['app'],
      targets: haproxyTarget('auth-wrong'),
    });
    await waitFor(async () => (await routerStatus(wrong.api)).dcs.last_error !== null, {
      what: 'auth failure reported',
      timeoutMs: 10_000,
    });
    assert.equal((await httpRequest(`http://${wrong.api}/health`)).status, 503);
    assert.doesNotMatch(group.logTail('auth-wrong', 500), /"nope"|password.?:.?"?nope/);
  } finally {
    for (const k of writers) await k.close();
    await tlsEtcd.stop();
    await authEtcd.stop();
  }
});

test('SIGHUP re-reads the config: an invalid one is reported and the running one kept, a valid one applied', async () => {
  const r = await startRouterProcess(group, 'hup', {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    clusters: ['app'],
    targets: haproxyTarget('hup-a'),
  });
  await waitFor(() => existsSync(`${group.dir}/hup-a.cfg`), {
    what: 'first output written',
    timeoutMs: 10_000,
  });
  const original = readFileSync(r.configPath, 'utf8');
  writeFileSync(r.configPath, `${original}\nunknown_top_level_key: 1\n`);
  group.signal('hup', 'SIGHUP');
  await waitFor(() => /new config is invalid; keeping the running one/.test(group.logTail('hup', 100)), {
    what: 'invalid config reported',
    timeoutMs: 10_000,
  });
  assert.match(group.logTail('hup', 100), /unknown key 'unknown_top_level_key'/);
  assert.equal((await routerStatus(r.api)).clusters['app']?.leader, 'pg1', 'still routing');
  writeFileSync(r.configPath, original.replace(`${group.dir}/hup-a.cfg`, `${group.dir}/hup-b.cfg`));
  group.signal('hup', 'SIGHUP');
  await waitFor(() => existsSync(`${group.dir}/hup-b.cfg`), {
    what: 'the new config applied (new output written)',
    timeoutMs: 15_000,
    diagnose: () => group.logTail('hup'),
  });
  await group.stop('hup');
});

test('a reload that keeps failing is retried, then the previous file is restored and the failure shown', async () => {
  const live = `${group.dir}/reload.cfg`;
  writeFileSync(live, '# the last good file\n');
  const { api } = await startRouterProcess(group, 'reload', {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    clusters: ['app'],
    targets: haproxyTarget('reload', { reload: 'echo "reload refused" >&2; exit 1', reload_attempts: 2 }),
  });
  await waitFor(
    async () =>
      /HAProxy reload failed 2 times/.test((await routerStatus(api)).targets.haproxy?.last_error ?? ''),
    {
      what: 'reload failure in /status',
      timeoutMs: 10_000,
    },
  );
  const status = await routerStatus(api);
  assert.match(status.targets.haproxy!.last_error!, /reload refused.*restored the previous/s);
  assert.ok((status.targets.haproxy as unknown as { rollbacks: number }).rollbacks >= 1);
  // The router keeps retrying with growing backoff; between attempts the previous file is in place.
  await waitFor(() => readFileSync(live, 'utf8') === '# the last good file\n', {
    what: 'the previous file back in place',
    timeoutMs: 5000,
    intervalMs: 20,
  });
  assert.equal(status.healthy, false);
  await group.stop('reload');
});
