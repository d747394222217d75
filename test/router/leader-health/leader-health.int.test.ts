// The router's leader health against a real PostgreSQL 15: SIGKILL of the leader's postmaster is shown in
// /status as a lost leader within about a second, while the leader key still names it; a restarted server
// is shown alive again. A router with only an HAProxy target (routing.leader_health.enabled: true).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ProcessGroup,
  startEtcd,
  startPostgres,
  waitFor,
  type EtcdCluster,
  type PostgresServer,
} from '../../harness/index.js';
import { routerStatus, startRouterProcess } from '../../harness/router.js';

let etcd: EtcdCluster;
let pg: PostgresServer;
let group: ProcessGroup;
let router: Awaited<ReturnType<typeof startRouterProcess>>;

const member = (port: number, role: string) =>
  JSON.stringify({
    conn_url: `postgres://127.0.0.1:${port}/postgres`,
    api_url: `http://127.0.0.1:${port + 1000}/patroni`,
    state: 'running',
    role,
    version: '3.0.2',
    xlog_location: 50331648,
    timeline: 1,
  });

const appStatus = async () =>
  (await routerStatus(router.api)).clusters['app'] as unknown as Record<string, unknown>;

before(async () => {
  etcd = await startEtcd();
  pg = await startPostgres();
  group = ProcessGroup.create('leader-health');
  await etcd.put('/service/app/members/pg1', member(pg.port, 'master'));
  await etcd.put('/service/app/leader', 'pg1');
  router = await startRouterProcess(group, 'router', {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    namespace: '/service',
    clusters: ['app'],
    routing: {
      writable_probe: { method: 'member', user: 'postgres', dbname: 'postgres' },
      leader_health: { enabled: true },
    },
    targets: {
      haproxy: { output: `${group.dir}/haproxy.cfg`, frontends: { app: { primary: '127.0.0.1:25999' } } },
    },
  });
});

after(async () => {
  await group?.cleanup();
  await pg?.stop();
  await etcd?.stop();
});

test("SIGKILL of the leader's postmaster shows the leader lost in /status within ~1 s while its key exists, and alive once restarted", async (t) => {
  await waitFor(async () => (await appStatus())['health'] === 'writable', {
    what: 'pg1 writable in /status',
    timeoutMs: 10_000,
  });
  await waitFor(
    async () =>
      (
        await pg.sql(
          "select count(*)::int as n from pg_stat_activity where application_name = 'switchyard-liveness'",
        )
      )[0]?.['n'] === 1,
    { what: 'the router holding one session on the leader', timeoutMs: 10_000 },
  );

  const killedAt = Date.now();
  process.kill(pg.pid() as number, 'SIGKILL');
  let status = await appStatus();
  for (let i = 0; i < 300 && status['health'] !== 'lost' && Date.now() - killedAt < 3000; i++) {
    await new Promise((r) => setTimeout(r, 10));
    status = await appStatus();
  }
  const ms = Date.now() - killedAt;
  t.diagnostic(`lost shown ${ms} ms after SIGKILL: ${String(status['lost_reason'])}`);
  assert.equal(status['health'], 'lost', `after ${ms} ms: ${JSON.stringify(status)}`);
  assert.ok(ms < 1000, `lost shown ${ms} ms after SIGKILL`);
  assert.match(String(status['lost_reason']), /held on 127\.0\.0\.1:\d+ ended|refused a connection/);
  assert.equal(await etcd.get('/service/app/leader'), 'pg1', 'the leader key still names pg1');
  assert.equal(status['leader'], 'pg1');
  assert.equal(status['writable'], true, 'HAProxy keeps routing by the key (unchanged behaviour)');
  const full = await routerStatus(router.api);
  assert.ok(
    full.reasons.some((r) => r.startsWith('app: leader pg1 lost:')),
    `reasons: ${JSON.stringify(full.reasons)}`,
  );

  await pg.startServer();
  await waitFor(async () => (await appStatus())['health'] === 'writable', {
    what: 'pg1 alive again in /status after the restart',
    timeoutMs: 10_000,
  });
  assert.equal((await appStatus())['lost_reason'], null);
});
