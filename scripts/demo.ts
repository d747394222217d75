// The local demo (`npm start`): a 3-member etcd, three Switchyard agent nodes (PostgreSQL 15), the
// Switchyard router driving HAProxy (read-write and read-only ports) and PgBouncer, all on loopback.
// Shows a live view (members, roles, lag, timeline; the router's applied routes; clients writing through
// both layers); keys switch over or kill the leader and print how fast the routes followed.
// Reuses the test harness (test/harness/, test/agent/helpers.ts) to start and always clean up the programs.
import { existsSync, writeFileSync } from 'node:fs';
import { createInterface, emitKeypressEvents } from 'node:readline';
import pg from 'pg';
import { parseRouterConfig } from '../src/config/router.js';
import { silentLogger } from '../src/log.js';
import { startRouter, type RunningRouter } from '../src/router/start.js';
import { SUPERUSER, startAgentCluster, type AgentCluster } from '../test/agent/helpers.js';
import {
  ProcessGroup,
  freePorts,
  httpRequest,
  startEtcd,
  startHaproxy,
  startPgbouncer,
  waitFor,
  type EtcdCluster,
  type HaproxyInstance,
  type PgbouncerInstance,
} from '../test/harness/index.js';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  console.log(`npm start [-- --keep]

Starts on 127.0.0.1: etcd (3 members), three Switchyard agent nodes with PostgreSQL 15, the Switchyard
router, HAProxy (a read-write and a read-only port) and PgBouncer. Then shows members, roles, lag and
timeline, the router's applied routes, and two clients writing through HAProxy and PgBouncer.
Keys: s = switchover, k = kill -9 the leader (agent and PostgreSQL), q or Ctrl-C = stop everything.
Without a terminal, type s or k and Enter on standard input.
--keep  keep the temp directories (data, logs) after stopping.`);
  process.exit(0);
}
const isKeep = args.includes('--keep');
if (isKeep) process.env['SWITCHYARD_HARNESS_KEEP'] = '1';

const SCOPE = 'demo';
const isTty = process.stdout.isTTY === true;
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s`;
const step = (text: string) => process.stdout.write(`[${elapsed()}] ${text}\n`);

let etcd: EtcdCluster | undefined;
let cluster: AgentCluster | undefined;
let haproxy: HaproxyInstance | undefined;
let bouncer: PgbouncerInstance | undefined;
let router: RunningRouter | undefined;
let group: ProcessGroup | undefined;
const clients: Writer[] = [];
let isStopping = false;

async function stop(code: number): Promise<never> {
  if (isStopping) process.exit(code);
  isStopping = true;
  if (process.stdin.isTTY) process.stdin.setRawMode(false);
  process.stdout.write('\nstopping everything the demo started...\n');
  for (const c of clients) c.stop();
  await router?.stop().catch(() => undefined);
  await haproxy?.stop().catch(() => undefined);
  await bouncer?.stop().catch(() => undefined);
  await cluster?.stopAll().catch(() => undefined);
  await etcd?.stop().catch(() => undefined);
  await group?.cleanup().catch(() => undefined);
  process.stdout.write(
    isKeep ? 'stopped; data and logs kept (--keep).\n' : 'stopped; data and logs removed.\n',
  );
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

/** A client that inserts a row every `intervalMs` over one connection, reconnecting after an error. */
class Writer {
  ok = 0;
  errors = 0;
  lastError = '';
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | undefined;
  private isBusy = false;

  constructor(
    readonly label: string,
    private readonly connection: pg.ClientConfig,
    private readonly intervalMs = 200,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    void this.client?.end().catch(() => undefined);
  }

  private async tick(): Promise<void> {
    if (this.isBusy) return;
    this.isBusy = true;
    try {
      if (!this.client) {
        const client = new pg.Client({ ...this.connection, connectionTimeoutMillis: 2000 });
        client.on('error', () => undefined);
        this.client = client;
        await client.connect();
      }
      await this.client.query({ text: 'INSERT INTO demo_writes (via) VALUES ($1)', values: [this.label] });
      this.ok += 1;
    } catch (err) {
      this.errors += 1;
      this.lastError = (err as Error).message.split('\n')[0] ?? '';
      const client = this.client;
      this.client = null;
      void client?.end().catch(() => undefined);
    } finally {
      this.isBusy = false;
    }
  }
}

try {
  step('starting etcd (3 members)');
  etcd = await startEtcd({ members: 3 });
  step('starting three Switchyard agents with PostgreSQL 15 (one bootstraps, two clone)');
  cluster = await startAgentCluster({ scope: SCOPE, nodes: 3, etcd });
  for (const n of cluster.nodes) cluster.start(n.name);
  const leader = await cluster.waitForLeader({ timeoutMs: 120_000 });
  step(`${leader} leads; waiting for the other two to stream from it`);
  await cluster.waitForReplicas(
    cluster.nodes.map((n) => n.name),
    180_000,
  );
  await cluster.sql(
    leader,
    'CREATE TABLE IF NOT EXISTS demo_writes (id bigserial PRIMARY KEY, via text, at timestamptz DEFAULT now(), server_port int DEFAULT inet_server_port())',
  );

  group = ProcessGroup.create('demo');
  const dir = group.dir;
  const [rw, ro, api, pgbPort] = (await freePorts(4)) as [number, number, number, number];
  const pgbDir = group.mkdir('pgbouncer', { forPostgres: true });
  const routes = group.writeFile('pgbouncer/switchyard-databases.ini', '[databases]\n', {
    forPostgres: true,
  });
  const userlist = group.writeFile('pgbouncer/userlist.txt', '"postgres" ""\n"pgbouncer_admin" ""\n', {
    forPostgres: true,
  });
  const ini = group.writeFile(
    'pgbouncer/pgbouncer.ini',
    [
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${pgbPort}`,
      `unix_socket_dir = ${pgbDir}`,
      'auth_type = trust',
      `auth_file = ${userlist}`,
      'admin_users = pgbouncer_admin',
      'pool_mode = transaction',
      'default_pool_size = 10',
      'server_login_retry = 1',
      'query_wait_timeout = 60',
      'ignore_startup_parameters = extra_float_digits,options',
      `%include ${routes}`,
      '',
    ].join('\n'),
    { forPostgres: true },
  );
  step('starting PgBouncer (its [databases] file is %included and owned by the router)');
  bouncer = await startPgbouncer({ iniPath: ini });

  const yaml = `# written by scripts/demo.ts
dcs: { type: etcd3, hosts: [${etcd.endpoints.map((e) => `"${e}"`).join(', ')}] }
namespace: /service
clusters: [${SCOPE}]
api: { listen: "127.0.0.1:${api}" }
routing:
  writable_probe: { method: sql, user: ${SUPERUSER.username}, password: "${SUPERUSER.password}" }
targets:
  haproxy:
    output: ${dir}/haproxy.cfg
    runtime_api: ${dir}/admin.sock
    state_file: ${dir}/haproxy.state
    reload: "kill -USR2 $(cat ${dir}/haproxy.pid)"
    timeouts: { connect: 300ms }
    frontends:
      ${SCOPE}: { primary: "127.0.0.1:${rw}", replicas: "127.0.0.1:${ro}" }
  pgbouncer:
    mode: include
    output: ${routes}
    owner: postgres
    databases:
      app:
        cluster: ${SCOPE}
        dbname: postgres
        user: ${SUPERUSER.username}
        password: "${SUPERUSER.password}"
        read_only: { name: app_ro }
    admin: { host: 127.0.0.1, port: ${pgbPort}, user: pgbouncer_admin }
`;
  writeFileSync(`${dir}/router.yml`, yaml);
  step('starting the Switchyard router (HAProxy + PgBouncer targets)');
  router = await startRouter(parseRouterConfig(yaml, `${dir}/router.yml`), silentLogger());
  await waitFor(() => existsSync(`${dir}/haproxy.cfg`), {
    what: 'router renders haproxy.cfg',
    timeoutMs: 30_000,
  });
  step('starting HAProxy on the rendered config');
  haproxy = await startHaproxy({ configPath: `${dir}/haproxy.cfg` });
  writeFileSync(`${dir}/haproxy.pid`, String(haproxy.pid));
  const r = router;
  await waitFor(() => r.router.status().healthy, {
    what: 'router healthy (every target applied)',
    timeoutMs: 30_000,
    diagnose: () => JSON.stringify(r.router.status().reasons),
  });
  const su = { user: SUPERUSER.username, password: SUPERUSER.password, database: 'postgres' };
  clients.push(
    new Writer('haproxy', { ...su, host: '127.0.0.1', port: rw }),
    new Writer('pgbouncer', { host: '127.0.0.1', port: pgbPort, user: 'postgres', database: 'app' }),
  );
  for (const c of clients) c.start();
  const pgUrl = `postgresql://${su.user}:${su.password}@127.0.0.1`;
  process.stdout.write(`
Ready in ${((Date.now() - started) / 1000).toFixed(1)} s.
  writes via HAProxy:     psql "${pgUrl}:${rw}/postgres"
  reads via HAProxy:      psql "${pgUrl}:${ro}/postgres"
  writes via PgBouncer:   psql "postgresql://postgres@127.0.0.1:${pgbPort}/app"   (reads: /app_ro)
  router:                 curl -s http://127.0.0.1:${api}/status     (/health, /metrics)
  agents (Patroni API):   ${cluster.nodes.map((n) => `${n.name} ${n.apiUrl}`).join(', ')}
  files:                  ${dir}/router.yml, haproxy.cfg; ${routes}
Two clients insert a row every 200 ms, one through HAProxy, one through PgBouncer.
Keys: s = switchover   k = kill -9 the leader   q = quit${isTty ? '' : '   (no terminal: type the letter and Enter)'}
`);
  await liveView(cluster, r, bouncer);
} catch (err) {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  await stop(1);
}

interface DemoEvent {
  what: string;
  at: number;
  from: string | null;
  keyMovedAt?: number;
  writableAt?: number;
  generation?: number;
  to?: string;
  applied: Record<string, number>;
  errorsBefore: number[];
}

interface ClusterView {
  leader: string | null;
  writer: string | null;
  replicas: string[];
}

async function liveView(c: AgentCluster, r: RunningRouter, b: PgbouncerInstance): Promise<void> {
  let event: DemoEvent | null = null;
  let message = '';
  let lastLines = 0;
  let lastPrinted = '';
  let lastPrintedAt = 0;
  const targetNames = Object.keys(r.router.status().targets);
  const demo = () => r.router.status().clusters[SCOPE] as ClusterView | undefined;
  const ms = (t: number | undefined, ev: DemoEvent) => (t === undefined ? '-' : `${t - ev.at} ms`);

  /** Follows an event every 20 ms until every target applied the new leader. */
  const track = async (ev: DemoEvent) => {
    const deadline = Date.now() + 120_000;
    while (!isStopping && Date.now() < deadline) {
      const status = r.router.status();
      const view = status.clusters[SCOPE] as ClusterView | undefined;
      const now = Date.now();
      if (ev.keyMovedAt === undefined && view?.leader && view.leader !== ev.from) ev.keyMovedAt = now;
      if (ev.writableAt === undefined && view?.writer && view.leader && view.leader !== ev.from) {
        ev.writableAt = now;
        ev.to = view.leader;
        ev.generation = status.generation;
      }
      if (ev.generation !== undefined) {
        for (const name of targetNames) {
          const t = status.targets[name];
          if (ev.applied[name] === undefined && t && t.applied_generation >= ev.generation)
            ev.applied[name] = now;
        }
        if (targetNames.every((n) => ev.applied[n] !== undefined)) break;
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    const errors = clients.map((cl, i) => `${cl.label} ${cl.errors - (ev.errorsBefore[i] ?? 0)}`).join(', ');
    message =
      `${ev.what} ${ev.from ?? '?'} → ${ev.to ?? '?'}, after the key press: leader key moved ${ms(ev.keyMovedAt, ev)}, ` +
      `${ev.to ?? 'new leader'} writable ${ms(ev.writableAt, ev)}, ` +
      targetNames.map((n) => `${n} routed ${ms(ev.applied[n], ev)}`).join(', ') +
      `; client errors during it: ${errors}`;
    if (!isTty) process.stdout.write(`>> ${message}\n`);
    event = null;
  };

  const act = (key: string) => {
    if (key === 'q') return void stop(0);
    if (event || (key !== 's' && key !== 'k')) return;
    const from = demo()?.leader ?? null;
    if (!from) {
      message = 'no leader right now; try again in a moment';
      return;
    }
    const ev: DemoEvent = {
      what: key === 's' ? 'switchover' : 'kill -9 of the leader',
      at: Date.now(),
      from,
      applied: {},
      errorsBefore: clients.map((cl) => cl.errors),
    };
    event = ev;
    if (key === 's') {
      message = `switching over from ${from}...`;
      httpRequest(`${c.node(from).apiUrl}/switchover`, {
        method: 'POST',
        body: { leader: from },
        timeoutMs: 30_000,
      })
        .then((res) => {
          if (res.status !== 200) {
            message = `switchover refused (${res.status}): ${res.body.trim()}`;
            event = null;
          }
        })
        .catch((err: Error) => {
          message = `switchover failed: ${err.message}`;
          event = null;
        });
    } else {
      message = `killed ${from} (agent and PostgreSQL); the leader key expires after the ttl (10 s)...`;
      c.kill(from)
        .then(async () => {
          await c.waitForLeader({ not: from, timeoutMs: 90_000 });
          c.start(from); // rejoins as a replica (pg_rewind or a fresh clone)
        })
        .catch((err: Error) => (message = `failover: ${err.message}`));
    }
    if (!isTty) process.stdout.write(`>> ${message}\n`);
    void track(ev);
  };

  if (process.stdin.isTTY) {
    emitKeypressEvents(process.stdin);
    process.stdin.setRawMode(true);
    process.stdin.on('keypress', (_s: string, key: { name?: string; ctrl?: boolean }) => {
      if (key.ctrl && key.name === 'c') return void stop(0);
      if (key.name) act(key.name);
    });
  } else {
    createInterface({ input: process.stdin }).on('line', (line) => act(line.trim().toLowerCase()));
  }

  const draw = async () => {
    const body = await httpRequest(`${c.nodes[0]?.apiUrl ?? ''}/cluster`, { timeoutMs: 1000 })
      .catch(() => null)
      .then(async (res) => {
        if (res?.status === 200) return res;
        for (const n of c.nodes.slice(1)) {
          const other = await httpRequest(`${n.apiUrl}/cluster`, { timeoutMs: 1000 }).catch(() => null);
          if (other?.status === 200) return other;
        }
        return null;
      });
    const members =
      (
        body?.json as
          | {
              members?: Array<{
                name: string;
                role: string;
                state: string;
                timeline?: number;
                lag?: number | string;
              }>;
            }
          | undefined
      )?.members ?? [];
    const status = r.router.status();
    const view = status.clusters[SCOPE] as ClusterView | undefined;
    const live = await b
      .adminQuery<{ name: string; host: string; port: number }>('SHOW DATABASES')
      .catch(() => []);
    const byAddress = new Map(c.nodes.map((n) => [`127.0.0.1:${n.pgPort}`, n.name]));
    const pgbRoute = (name: string) => {
      const row = live.find((d) => d.name === name);
      if (!row?.host) return '-';
      const address = `${row.host}:${row.port}`;
      return `${byAddress.get(address) ?? '?'} (${address})`;
    };
    const lines = [
      `${new Date().toISOString().slice(11, 19)}  cluster ${SCOPE}: ${members.length} members; router generation ${status.generation}, ${status.healthy ? 'healthy' : `unhealthy: ${status.reasons.join('; ')}`}`,
      `  member  role           state          TL  lag (bytes)`,
      ...members.map(
        (m) =>
          `  ${m.name.padEnd(7)} ${m.role.padEnd(14)} ${m.state.padEnd(14)} ${String(m.timeline ?? '-').padStart(2)}  ${m.lag ?? ''}`,
      ),
      `  routes   HAProxy  writes → ${view?.writer ? `${view.leader} (${view.writer})` : '(none: not routed)'}; reads → ${view?.replicas.join(', ') || '-'}`,
      `           PgBouncer app → ${pgbRoute('app')}; app_ro → ${pgbRoute('app_ro')}`,
      ...targetNames.map((n) => {
        const t = status.targets[n];
        return `           ${n.padEnd(9)} applied generation ${t?.applied_generation ?? '-'}${t?.last_error ? `, error: ${t.last_error}` : ''}`;
      }),
      `  clients  ${clients.map((cl) => `${cl.label}: ${cl.ok} ok, ${cl.errors} errors`).join('; ')}`,
      message ? `  ${message}` : '',
    ];
    const text = `${lines.join('\n')}\n`;
    if (isTty) {
      if (lastLines > 0) process.stdout.write(`\x1b[${lastLines}A\x1b[J`);
      process.stdout.write(text);
      // Rows on screen, counting lines the terminal wrapped, so the next redraw starts at the top.
      const columns = process.stdout.columns || 80;
      lastLines = lines.reduce((rows, line) => rows + Math.max(1, Math.ceil(line.length / columns)), 0);
    } else {
      // Without a terminal: print the view when something other than the clock and the client counters
      // changed, and every 15 s.
      const key = lines.slice(1, -2).join('\n') + message;
      if (key !== lastPrinted || Date.now() - lastPrintedAt > 15_000) {
        process.stdout.write(`${text}\n`);
        lastPrinted = key;
        lastPrintedAt = Date.now();
      }
    }
  };
  for (;;) {
    await draw().catch((err: Error) => (message = `view: ${err.message}`));
    await new Promise((res) => setTimeout(res, isTty ? 1000 : 2000));
  }
}
