// Every example in examples/ is what CI says it is: router configs validate against the schema, the files
// they render from a recorded cluster pass `haproxy -c` / load in a real PgBouncer / pass pgcat's rules,
// init scripts and units say what the READMEs say, and agent/Patroni configs load.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { parseAllDocuments, parseDocument } from 'yaml';
import { parseAgentConfig } from '../../agent/config/load.js';
import { buildClusterState, type RawKey } from '../../src/cluster/index.js';
import { parseRouterConfig, routerConfigSchema, type RouterConfig } from '../../src/config/router.js';
import { silentLogger } from '../../src/log.js';
import { computeView, writer, type RouteView } from '../../src/route/view.js';
import { createTargets } from '../../src/router/start.js';
import type { RouteSnapshot } from '../../src/targets/index.js';
import { isRenderable } from '../../src/targets/types.js';
import type { PgBouncerConfig } from '../../src/targets/pgbouncer/config.js';
import type { PgcatConfig } from '../../src/targets/pgcat/config.js';
import type { VipConfig } from '../../src/targets/vip/config.js';
import { resolvePgBouncerOptions } from '../../src/targets/pgbouncer/options.js';
import { renderPgBouncerIni } from '../../src/targets/pgbouncer/render.js';
import { routesToRender, wantedWriters } from '../../src/targets/pgbouncer/routes.js';
import { resolvePgcatOptions } from '../../src/targets/pgcat/index.js';
import { checkPgcatToml, renderPgcatToml, type PgcatServer } from '../../src/targets/pgcat/render.js';
import { ProcessGroup, freePort, startPgbouncer } from '../harness/index.js';
import { member4x, patroni302Keys, raw } from '../fixtures.js';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
const path = (...parts: string[]) => join(examples, ...parts);
const read = (...parts: string[]) => readFileSync(path(...parts), 'utf8');
const tmp = mkdtempSync(join(tmpdir(), 'switchyard-examples-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Secrets the examples take from the environment (values are test values). */
const ENV = {
  SWITCHYARD_PROBE_PASSWORD: 'probe-secret',
  PGCAT_ADMIN_PASSWORD: 'admin-secret',
  APP_DB_PASSWORD: 'app-secret',
  SWITCHYARD_EXAMPLE_SECRET: 'file-secret',
};
Object.assign(process.env, ENV);

/**
 * Validates with the schema as written, then parses with `parseRouterConfig` (which also resolves
 * secrets). A `password_file` names a file that exists only on the real host, so for the second step it
 * is read from the environment instead.
 */
function routerConfig(text: string, file: string): RouterConfig {
  const raw = routerConfigSchema().safeParse(parseDocument(text).toJS());
  assert.equal(raw.success, true, `${file}: ${JSON.stringify(raw.error?.issues)}`);
  return parseRouterConfig(
    text.replace(/password_file: \S+/g, 'password_env: SWITCHYARD_EXAMPLE_SECRET'),
    file,
  );
}

/** The parsed `targets.<key>` section (router.ts types them through the factory list, as never). */
function section<T>(config: RouterConfig, key: string): T {
  const value = (config.targets as Record<string, unknown>)[key];
  assert.ok(value, `${config.path} has a ${key} target`);
  return value as T;
}

function view(scope: string, keys: RawKey[], config: RouterConfig): RouteView {
  const state = buildClusterState(scope, keys);
  assert.deepEqual(state.invalid, [], `${scope}: the fixture has no invalid values`);
  return {
    ...computeView(state, { maxReplicaLagBytes: config.routing.maxReplicaLagBytes }),
    generation: 1,
  };
}

function snapshot(...views: RouteView[]): RouteSnapshot {
  return {
    generation: 1,
    views: new Map(views.map((v) => [v.scope, v])),
    dcs: { isConnected: true, lastContactAt: Date.now() },
  };
}

/** A three-member Patroni 4.1 cluster (pg2 leads), as the keys look in etcd. */
function patroni4Keys(): RawKey[] {
  return [
    raw('leader', 'pg2'),
    raw('config', JSON.stringify({ ttl: 30, loop_wait: 10, retry_timeout: 10, failsafe_mode: true })),
    raw('initialize', '7587870000000000001'),
    raw('members/pg1', member4x({ port: 25011, apiPort: 25021, xlog: 67395656 })),
    raw('members/pg2', member4x({ port: 25012, apiPort: 25022, role: 'primary', xlog: 67395656 })),
    raw('members/pg3', member4x({ port: 25013, apiPort: 25023, xlog: 67395656 })),
  ];
}

/** Renders the HAProxy file of `config` for `snap` and runs `haproxy -c` on it; returns the text. */
async function renderHaproxy(config: RouterConfig, snap: RouteSnapshot, name: string): Promise<string> {
  const targets = createTargets(config, silentLogger());
  try {
    const haproxy = targets.find((t) => t.name === 'haproxy');
    assert.ok(haproxy && isRenderable(haproxy), 'the config has an HAProxy target');
    const [file] = await haproxy.preview(snap);
    assert.ok(file);
    const staged = join(tmp, `${name}.cfg`);
    writeFileSync(staged, file.contents);
    const check = spawnSync('haproxy', ['-c', '-f', staged], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(check.status, 0, `haproxy -c ${name}:\n${check.stdout}${check.stderr}\n${file.contents}`);
    return file.contents;
  } finally {
    await Promise.all(targets.map((t) => t.close()));
  }
}

const hasPatroni = spawnSync('patroni', ['--version'], { encoding: 'utf8' }).status === 0;

/** `patroni --validate-config`, with bin_dir pointed at the PostgreSQL installed here (15). */
function patroniValidate(text: string, name: string): void {
  const file = join(tmp, name);
  writeFileSync(file, text.replace(/bin_dir: \S+/, 'bin_dir: /usr/lib/postgresql/15/bin'));
  const result = spawnSync('patroni', ['--validate-config', file], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, `patroni --validate-config ${name}: ${result.stdout}${result.stderr}`);
}

// --- edge router (OpenWrt): test/examples/openwrt.test.ts ---------------------------------------

// --- pooler chain ----------------------------------------------------------------------------------

test('pooler-chain: the routing file rendered from a recorded cluster loads in a real PgBouncer via the example pgbouncer.ini', async () => {
  const config = routerConfig(read('pooler-chain', 'router.yml'), path('pooler-chain', 'router.yml'));
  const target = section<PgBouncerConfig>(config, 'pgbouncer');
  const demo = view('demo', patroni302Keys(), config);
  const leader = writer(demo);
  assert.ok(leader, 'the recorded cluster has a writable leader');
  const options = resolvePgBouncerOptions(target, config.dir);
  const views = new Map([[demo.scope, demo]]);
  const routes = routesToRender(target, wantedWriters(target, views), views, new Map());
  const rendered = renderPgBouncerIni(target, options.template, routes, options.passwords);

  // The operator's pgbouncer.ini as shipped, with host paths and auth moved into a temp dir.
  const group = ProcessGroup.create('examples-pgbouncer');
  let bouncer: Awaited<ReturnType<typeof startPgbouncer>> | undefined;
  try {
    const dir = group.mkdir('pgbouncer', { forPostgres: true });
    const include = group.writeFile('pgbouncer/switchyard-databases.ini', rendered.text, { forPostgres: true });
    const userlist = group.writeFile('pgbouncer/userlist.txt', '"switchyard" ""\n"app" ""\n', {
      forPostgres: true,
    });
    const port = await freePort();
    const ini = read('pooler-chain', 'pgbouncer.ini')
      .replace(/^listen_port = .*$/m, `listen_port = ${port}`)
      .replace(/^unix_socket_dir = .*$/m, `unix_socket_dir = ${dir}`)
      .replace(/^auth_type = .*$/m, 'auth_type = trust')
      .replace(/^auth_file = .*$/m, `auth_file = ${userlist}`)
      .replace(/^%include .*$/m, `%include ${include}`);
    assert.match(ini, /^admin_users = switchyard$/m, 'the admin user of router.yml');
    const iniPath = group.writeFile('pgbouncer/pgbouncer.ini', ini, { forPostgres: true });
    bouncer = await startPgbouncer({ iniPath });
    const rows = await bouncer.adminQuery<{ name: string; host: string; port: number; database: string }>(
      'SHOW DATABASES',
    );
    const app = rows.find((r) => r.name === 'app');
    assert.ok(app, `PgBouncer lists app: ${JSON.stringify(rows)}\n${bouncer.logTail()}`);
    assert.equal(app.host, leader.host);
    assert.equal(Number(app.port), leader.port);
    assert.equal(app.database, 'app');
  } finally {
    await bouncer?.stop();
    await group.cleanup();
  }
});

test('pooler-chain: the Kubernetes manifest runs the router as a pgcat sidecar on a shared volume', () => {
  const docs = parseAllDocuments(read('pooler-chain', 'k8s-pgcat-sidecar.yaml'));
  for (const d of docs) assert.deepEqual(d.errors, []);
  const objects = docs.map((d) => d.toJS() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
  const byKind = (kind: string) => objects.find((o) => o.kind === kind);
  const configMap = byKind('ConfigMap');
  const deployment = byKind('Deployment');
  assert.ok(configMap && deployment && byKind('Service'));

  const spec = deployment.spec.template.spec;
  const sidecar = spec.initContainers.find((c: { name: string }) => c.name === 'switchyard');
  const pgcat = spec.containers.find((c: { name: string }) => c.name === 'pgcat');
  assert.ok(sidecar && pgcat, 'containers switchyard (sidecar) and pgcat');
  assert.equal(sidecar.restartPolicy, 'Always', 'a native sidecar');
  assert.deepEqual(sidecar.command.slice(1), ['route', '--config', '/etc/switchyard/router.yml']);

  const mount = (c: { volumeMounts: Array<{ name: string; mountPath: string }> }, name: string) =>
    c.volumeMounts.find((m) => m.name === name)?.mountPath;
  const shared = spec.volumes.find((v: { emptyDir?: unknown }) => v.emptyDir !== undefined);
  assert.ok(shared, 'an emptyDir volume');
  assert.ok(mount(sidecar, shared.name) && mount(sidecar, shared.name) === mount(pgcat, shared.name));
  const configVolume = spec.volumes.find(
    (v: { configMap?: { name: string } }) => v.configMap?.name === configMap.metadata.name,
  );
  assert.equal(mount(sidecar, configVolume.name), '/etc/switchyard');

  // The router config in the ConfigMap is valid, writes into the shared volume, and pgcat reads that file.
  const config = routerConfig(configMap.data['router.yml'], '/etc/switchyard/router.yml');
  const target = section<PgcatConfig>(config, 'pgcat');
  assert.ok(target.output.startsWith(`${mount(sidecar, shared.name)}/`));
  assert.ok(pgcat.command.includes(target.output));
  assert.equal(pgcat.ports[0].containerPort, target.general.port);
  const envNames = new Set(sidecar.env.map((e: { name: string }) => e.name));
  for (const name of configMap.data['router.yml'].match(/password_env: (\w+)/g) ?? []) {
    assert.ok(envNames.has(name.split(' ')[1]), `the sidecar sets ${name}`);
  }

  // pgcat.toml rendered from the recorded cluster passes pgcat's rules with the leader as primary.
  const demo = view('demo', patroni302Keys(), config);
  const leader = writer(demo);
  assert.ok(leader);
  const options = resolvePgcatOptions(target, config.dir);
  const servers = new Map<string, PgcatServer[]>(
    Object.keys(target.pools).map((pool) => [
      pool,
      [{ member: leader.name, host: leader.host, port: leader.port, role: 'primary' }],
    ]),
  );
  const toml = renderPgcatToml(target, options.template, servers, options.secrets);
  assert.deepEqual(checkPgcatToml(toml, servers), []);
});

// --- VIP with systemd ------------------------------------------------------------------------------

test('vip-systemd: router.yml is valid and the unit removes exactly that VIP in ExecStopPost, with the capabilities it needs', () => {
  const config = routerConfig(read('vip-systemd', 'router.yml'), path('vip-systemd', 'router.yml'));
  const vip = section<VipConfig>(config, 'vip');
  const unit = read('vip-systemd', 'switchyard-vip.service');
  const stopPost = /^ExecStopPost=-\/usr\/sbin\/ip addr del (\S+) dev (\S+)$/m.exec(unit);
  assert.ok(stopPost, 'ExecStopPost removes the VIP');
  assert.equal(stopPost[1], vip.address.cidr);
  assert.equal(stopPost[2], vip.interface);
  assert.match(unit, /^AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW$/m);
  assert.match(unit, /^KillSignal=SIGTERM$/m);
  assert.match(unit, /^ExecStart=\S+ route --config \/etc\/switchyard\/router\.yml$/m);
});

// --- Patroni 4 and the agent -----------------------------------------------------------------------

test('patroni4: router.yml is valid and renders from Patroni 4.1 keys an HAProxy file that haproxy -c accepts', async () => {
  const config = routerConfig(read('patroni4', 'router.yml'), path('patroni4', 'router.yml'));
  const app = view('app', patroni4Keys(), config);
  assert.equal(writer(app)?.name, 'pg2', 'role primary (Patroni 4) is writable');
  const text = await renderHaproxy(config, snapshot(app), 'patroni4');
  assert.match(text, /server pg2 127\.0\.0\.1:25012 check port 25022\n/);
  assert.match(text, /server pg1 127\.0\.0\.1:25011 check port 25021 backup\n/);
});

test('patroni4: patroni.yml loads in the agent (only watchdog unimplemented) and in Patroni', () => {
  const text = read('patroni4', 'patroni.yml');
  const { config, warnings } = parseAgentConfig(text, 'patroni.yml');
  assert.deepEqual(warnings, ['patroni.yml: watchdog: not implemented by the agent; ignored']);
  assert.equal(config.scope, 'app');
  if (hasPatroni) patroniValidate(text, 'patroni4.yml');
});

test('agent: node.yml is accepted by the agent loader without warnings, for the cluster patroni4/router.yml follows', async () => {
  const text = read('agent', 'node.yml');
  const { config, warnings } = parseAgentConfig(text, 'node.yml');
  assert.deepEqual(warnings, []);
  const router = routerConfig(read('patroni4', 'router.yml'), path('patroni4', 'router.yml'));
  assert.deepEqual(router.clusters, [config.scope]);
  assert.equal(config.namespace.replace(/\/$/, ''), router.namespace.replace(/\/$/, ''));
  const patroni = parseAgentConfig(read('patroni4', 'patroni.yml'), 'patroni.yml').config;
  assert.deepEqual(config.etcd.hosts, patroni.etcd.hosts, 'the same etcd as the Patroni cluster');
  if (hasPatroni) patroniValidate(text, 'agent-node.yml');
  // The agent writes Patroni 3.0.2's key formats: the recorded 3.0.2 cluster stands in for it.
  await renderHaproxy(router, snapshot(view('app', patroni302Keys(), router)), 'agent');
  const unit = read('agent', 'switchyard-agent.service');
  assert.match(unit, /^ExecStart=\S+ agent --config \/etc\/switchyard\/node\.yml$/m);
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m, 'the agent reloads node.yml on SIGHUP');
});
