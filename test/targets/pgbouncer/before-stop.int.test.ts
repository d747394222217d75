import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ProcessGroup,
  freePort,
  sleep,
  startEtcd,
  startPatroniCluster,
  waitFor,
  type EtcdCluster,
  type PatroniCluster,
} from '../../harness/index.js';
import { STACK, STACK_VERSIONS, switchyardCommandInStack } from '../../harness/stack.js';
import { runSwitchover } from '../../../src/cli/switchover.js';
import {
  lineCollector,
  startBedRouter,
  startPgBouncerBed,
  writeBedRouterConfig,
  type PgBouncerBed,
} from './bed.js';
import { startLoad } from './load.js';

// Patroni runs postgresql.before_stop from 3.0.3 on: the Debian 13 stack (4.0.7) has it, Debian 12's 3.0.2 not.
const skip =
  STACK === 'trixie'
    ? false
    : `needs Patroni >= 3.0.3 for postgresql.before_stop (this stack: ${STACK_VERSIONS.patroni})`;

describe(
  `switchyard switchover with Patroni's before_stop hook (stop handshake; this stack: Patroni ${STACK_VERSIONS.patroni})`,
  { skip },
  () => {
    let etcd: EtcdCluster;
    let cluster: PatroniCluster;
    let bed: PgBouncerBed;
    let routerGroup: ProcessGroup;
    let configPath: string;
    let apiPort = 0;
    const nodePort = (name: string) => cluster.nodes.find((n) => n.name === name)?.pgPort;
    const appRow = async () =>
      (await bed.bouncer.adminQuery('SHOW DATABASES')).find((r) => r['name'] === 'app');

    before(async () => {
      etcd = await startEtcd();
      cluster = await startPatroniCluster({
        scope: 'demo',
        nodes: 3,
        etcd,
        extraPostgresql: (_node, file) => ({
          before_stop: switchyardCommandInStack(['before-stop', '-c', file]),
        }),
        tags: Object.fromEntries(['pg1', 'pg2', 'pg3'].map((n) => [n, { switchyard_before_stop: true }])),
      });
      const leader = await cluster.waitForLeader();
      await cluster.sql(leader, 'create table if not exists t (id bigserial primary key, v int)');
      bed = await startPgBouncerBed(
        `[databases]\napp = host=127.0.0.1 port=${nodePort(leader)} dbname=postgres\n`,
      );
      routerGroup = ProcessGroup.create('router');
      apiPort = await freePort();
      configPath = writeBedRouterConfig(bed, { etcdEndpoints: etcd.endpoints, apiPort });
      await startBedRouter(routerGroup, configPath, apiPort);
    });

    after(async () => {
      await routerGroup?.cleanup();
      await bed?.stop();
      await cluster?.stop();
      await etcd?.stop();
    });

    test('clients are paused at the stop, not before the request, and a 300 ms transaction still finishes', async (t) => {
      await cluster.waitForHealthy({ timeoutMs: 60_000 });
      const old = await cluster.waitForLeader();
      await waitFor(async () => Number((await appRow())?.['port']) === nodePort(old), {
        what: `app routed to ${old}`,
        timeoutMs: 20_000,
      });
      const load = startLoad({
        port: bed.bouncer.port,
        database: 'app',
        clients: 6,
        statement: 'insert into t (v) values (1) returning inet_server_port() as port',
        longTransactionSeconds: 0.3,
      });
      await sleep(1000);
      const { lines, out } = lineCollector();
      const code = await runSwitchover({ config: configPath, cluster: 'demo', timeoutSeconds: 30 }, out);
      await sleep(1000);
      const report = await load.stop();
      t.diagnostic(lines.join('\n'));
      assert.equal(code, 0, lines.join('\n'));
      const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));
      const order = [
        at(/armed the stop handshake/),
        at(/POST http/),
        at(new RegExp(`${old} is about to stop PostgreSQL`)),
        at(/paused app/),
        at(/leader key released by/),
        at(/done: demo switched over to/),
      ];
      assert.ok(
        order.every((i, k) => i >= 0 && (k === 0 || i > (order[k - 1] as number))),
        lines.join('\n'),
      );
      // The stop waited for the PAUSE, and the PAUSE for the running 300 ms transaction: nothing met the
      // fast shutdown ("terminating connection due to administrator command").
      assert.deepEqual(report.errors, []);
      const next = await cluster.waitForLeader();
      assert.notEqual(next, old);
      assert.deepEqual(report.ports, [nodePort(old), nodePort(next)]);
      const row = await appRow();
      assert.equal(Number(row?.['port']), nodePort(next));
      assert.equal(Number(row?.['paused']), 0);
      assert.match(
        cluster.logTail(old, 200),
        /switchyard before-stop: \w+: paused \(\d+ ms\)/,
        "the hook's own line in Patroni's output",
      );
    });
  },
);
