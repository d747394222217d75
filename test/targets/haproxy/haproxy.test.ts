import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildClusterState } from '../../../src/cluster/index.js';
import { computeView, type RouteView } from '../../../src/route/view.js';
import { HaproxyConfigSchema } from '../../../src/targets/haproxy/config.js';
import { HaproxyTarget } from '../../../src/targets/haproxy/index.js';
import { buildContext, structuralKey } from '../../../src/targets/haproxy/context.js';
import { writer } from '../../../src/route/view.js';
import { parseServersState } from '../../../src/targets/haproxy/runtime.js';
import { missingServers, planRuntime } from '../../../src/targets/haproxy/plan.js';
import { silentLogger } from '../../../src/log.js';
import { member4x, patroni302Keys, raw } from '../../fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-haproxy-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function target(extra: Record<string, unknown> = {}) {
  const config = HaproxyConfigSchema.parse({
    output: join(dir, 'haproxy.cfg'),
    runtime_api: join(dir, 'admin.sock'),
    frontends: { lab: { primary: '127.0.0.1:5000', replicas: '127.0.0.1:5001' } },
    ...extra,
  });
  return new HaproxyTarget(config, {
    log: silentLogger(),
    now: Date.now,
    configDir: dir,
    clusters: ['lab'],
  });
}

function snapshot(views: RouteView[]) {
  return {
    generation: 7,
    views: new Map(views.map((v) => [v.scope, v])),
    dcs: { isConnected: true, lastContactAt: Date.now() },
  };
}

function labView(): RouteView {
  return {
    ...computeView(buildClusterState('lab', patroni302Keys()), { maxReplicaLagBytes: null }),
    generation: 3,
  };
}

test('the default template renders a recorded 3.0.2 cluster into a config haproxy -c accepts', async () => {
  const { text } = await target().render(snapshot([labView()]));
  assert.match(text, /listen lab_primary\n {4}bind 127\.0\.0\.1:5000\n {4}option httpchk GET \/primary/);
  assert.match(
    text,
    /server node3 127\.0\.0\.1:24013 check port 24023\n/,
    'the leader is the only regular server',
  );
  assert.match(text, /server node1 127\.0\.0\.1:24011 check port 24021 backup\n/);
  assert.match(text, /on-marked-down shutdown-sessions/);
  assert.match(text, /hard-stop-after 30s/);
  assert.match(text, /stats socket .*admin\.sock mode 600 level admin/);
  const path = join(dir, 'check.cfg');
  writeFileSync(path, text);
  execFileSync('haproxy', ['-c', '-q', '-f', path]); // throws on a non-zero exit
});

test('by default a refused connect is retried every 100 ms for 20 retries, not after 1 s (switchover retry gap)', async () => {
  const { text } = await target().render(snapshot([labView()]));
  assert.match(text, /\n {4}retries 20\n/);
  assert.match(text, /\n {4}timeout connect 100ms\n/);
  assert.match(text, /\n {4}option redispatch 1\n/);
  const custom = await target({ retries: 3, timeouts: { connect: '1s' } }).render(snapshot([labView()]));
  assert.match(custom.text, /\n {4}retries 3\n/);
  assert.match(custom.text, /\n {4}timeout connect 1s\n/);
});

test('without a writable leader every member of the primary listener is a backup', async () => {
  const state = buildClusterState(
    'lab',
    patroni302Keys().filter((k) => k.key !== 'leader'),
  );
  const { text, context } = await target().render(
    snapshot([{ ...computeView(state, { maxReplicaLagBytes: null }), generation: 1 }]),
  );
  assert.equal(context.clusters[0]?.writer, null);
  const primary = text.slice(text.indexOf('listen lab_primary'), text.indexOf('listen lab_replicas'));
  assert.equal(primary.match(/server node\d .* backup\n/g)?.length, 3);
});

test('file-only mode without a writable leader renders the primary servers disabled (a new worker counts servers UP)', async () => {
  const state = buildClusterState(
    'lab',
    patroni302Keys().filter((k) => k.key !== 'leader'),
  );
  const { text } = await target({ runtime_api: null }).render(
    snapshot([{ ...computeView(state, { maxReplicaLagBytes: null }), generation: 1 }]),
  );
  const primary = text.slice(text.indexOf('listen lab_primary'), text.indexOf('listen lab_replicas'));
  assert.equal(primary.match(/ backup disabled\n/g)?.length, 3);
  assert.doesNotMatch(text.slice(text.indexOf('listen lab_replicas')), /disabled/, 'reads keep serving');
  const path = join(dir, 'fenced.cfg');
  writeFileSync(path, text);
  execFileSync('haproxy', ['-c', '-q', '-f', path]);
});

test('a member whose key expired stays in the file as a backup: a failover needs no reload', () => {
  const all = labView();
  const withoutNode1 = { ...all, members: all.members.filter((m) => m.name !== 'node1') };
  const retained = new Map([['lab', all.members]]);
  const config = HaproxyConfigSchema.parse({
    output: '/x',
    frontends: { lab: { primary: '127.0.0.1:5000' } },
  });
  const before = buildContext(config, new Map([['lab', all]]), 1, writer);
  const after = buildContext(config, new Map([['lab', withoutNode1]]), 2, writer, retained);
  assert.equal(structuralKey(after), structuralKey(before));
  assert.equal(after.clusters[0]?.primary.servers.find((s) => s.name === 'node1')?.isBackup, true);
});

test('IPv6 members and a REST API on another address render as valid HAProxy syntax', async () => {
  const state = buildClusterState('lab', [
    raw('leader', 'pg1'),
    raw(
      'members/pg1',
      JSON.stringify({
        conn_url: 'postgres://[::1]:5432/postgres',
        api_url: 'http://127.0.0.2:8008/patroni',
        state: 'running',
        role: 'primary',
      }),
    ),
    raw('members/pg2', member4x({ port: 5433, apiPort: 8009 })),
  ]);
  const { text } = await target().render(
    snapshot([{ ...computeView(state, { maxReplicaLagBytes: null }), generation: 1 }]),
  );
  assert.match(text, /server pg1 \[::1\]:5432 check port 8008 addr 127\.0\.0\.2\n/);
  const path = join(dir, 'v6.cfg');
  writeFileSync(path, text);
  execFileSync('haproxy', ['-c', '-q', '-f', path]);
});

test('hostile member values never reach the rendered file', async () => {
  const state = buildClusterState('lab', [
    raw('leader', 'pg1'),
    raw('members/pg1', member4x({ port: 5432, apiPort: 8008, role: 'primary' })),
    raw(
      'members/evil',
      JSON.stringify({
        conn_url: 'postgres://1.2.3.4:5432\n    server x 6.6.6.6:5432/postgres',
        state: 'running',
        role: 'replica',
      }),
    ),
    raw(
      'members/evil2',
      JSON.stringify({ conn_url: 'postgres://h%20x:5432/postgres', state: 'running', role: 'replica' }),
    ),
    raw('members/a;b', member4x({ port: 5433, apiPort: 8009 })),
  ]);
  assert.equal(state.invalid.length, 3);
  const { text } = await target().render(
    snapshot([{ ...computeView(state, { maxReplicaLagBytes: null }), generation: 1 }]),
  );
  assert.doesNotMatch(text, /6\.6\.6\.6|evil|a;b|h x/);
});

test('runtime plan fences the old primary before routing to the new one, without MAINT', () => {
  const live = parseServersState(
    [
      '1',
      '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...',
      '2 app_primary 1 pg1 127.0.0.1 2 0 1 1 10 6 3 4 6 0 0 0 - 5432 - 0 8008 - - 8008',
      '2 app_primary 2 pg2 127.0.0.1 0 0 1 1 10 6 3 4 6 0 0 0 - 5433 - 0 8009 - - 8009',
      '2 app_primary 3 pg3 127.0.0.1 0 1 1 1 10 6 3 4 6 0 0 0 - 5434 - 0 8010 - - 8010',
    ].join('\n'),
  );
  const plan = planRuntime(
    [{ backend: 'app_primary', up: ['pg3'], isFencing: true }],
    live,
    new Set(['app_primary/pg1']),
  );
  assert.deepEqual(plan.fence, [
    'set server app_primary/pg1 health down',
    'shutdown sessions server app_primary/pg1',
  ]);
  assert.deepEqual(plan.route, [
    'set server app_primary/pg3 state ready',
    'set server app_primary/pg3 health up',
  ]);
  assert.ok(
    ![...plan.fence, ...plan.route].some((c) => / state maint/.test(c)),
    'never leaves a server in MAINT',
  );
  assert.deepEqual(plan.missing, []);
});

test('runtime plan fences a live server that etcd no longer lists (its member key expired)', () => {
  const live = parseServersState(
    '1\n# header\n2 app_primary 1 old 127.0.0.1 2 0 1 1 10 6 3 4 6 0 0 0 - 5432 - 0 8008 - - 8008\n2 app_primary 2 pg2 127.0.0.1 0 0 1 1 10 6 3 4 6 0 0 0 - 5433 - 0 8009 - - 8009\n',
  );
  const plan = planRuntime([{ backend: 'app_primary', up: ['pg2'], isFencing: true }], live, new Set());
  assert.deepEqual(plan.fence, [
    'set server app_primary/old health down',
    'shutdown sessions server app_primary/old',
  ]);
});

test('runtime plan is empty when the live state already matches, and reports missing servers', () => {
  const live = parseServersState(
    '1\n# header\n2 app_primary 1 pg1 127.0.0.1 2 0 1 1 10 6 3 4 6 0 0 0 - 5432 - 0 8008 - - 8008\n',
  );
  assert.deepEqual(planRuntime([{ backend: 'app_primary', up: ['pg1'], isFencing: true }], live, new Set()), {
    fence: [],
    route: [],
    missing: [],
  });
  assert.deepEqual(
    planRuntime([{ backend: 'app_primary', up: ['pg9'], isFencing: true }], live, new Set()).missing,
    ['app_primary/pg9'],
  );
});

test('2,000 renames do not leave 2,002 server lines: members gone longer than the retention are dropped', async () => {
  let now = 1_000_000;
  const config = HaproxyConfigSchema.parse({
    output: join(dir, 'renames.cfg'),
    check: null,
    gone_member_retention_ms: 10_000,
    frontends: { lab: { primary: '127.0.0.1:5000' } },
  });
  const t = new HaproxyTarget(config, {
    log: silentLogger(),
    now: () => now,
    configDir: dir,
    clusters: ['lab'],
  });
  const leader = raw('members/pg1', member4x({ port: 5432, apiPort: 8008, role: 'primary' }));
  const renamed = (i: number): RouteView => ({
    ...computeView(
      buildClusterState('lab', [
        raw('leader', 'pg1'),
        leader,
        raw(`members/node${i}`, member4x({ port: 6000 + (i % 1000), apiPort: 9000 })),
      ]),
      { maxReplicaLagBytes: null },
    ),
    generation: i,
  });
  const servers = () => (readFileSync(config.output as string, 'utf8').match(/^\s*server /gm) ?? []).length;
  for (let i = 1; i <= 2000; i++) {
    await t.apply({ ...snapshot([renamed(i)]), generation: i });
    now += 1000; // one rename a second
  }
  // pg1, node2000 and the nodes renamed away within the last 10 s.
  assert.ok(servers() <= 12, `at most 12 server lines within the retention, found ${servers()}`);
  now += 10_000;
  await t.apply({ ...snapshot([renamed(2000)]), generation: 2000 });
  assert.equal(servers(), 2, 'after the retention only the current members are left');
});

test('missingServers names the servers of the file that the running HAProxy lacks or runs elsewhere', () => {
  const config = HaproxyConfigSchema.parse({
    output: '/x',
    frontends: { lab: { primary: '127.0.0.1:5000', replicas: '127.0.0.1:5001' } },
  });
  const context = buildContext(config, new Map([['lab', labView()]]), 1, writer);
  const line = (backend: string, server: string, addr: string, port: number) =>
    `1 ${backend} 1 ${server} ${addr} 2 0 1 1 10 6 3 4 6 0 0 0 - ${port} - 0 0 - - 0`;
  const live = parseServersState(
    [
      '1',
      line('lab_primary', 'node1', '127.0.0.1', 24011),
      line('lab_primary', 'node2', '127.0.0.1', 24012),
      line('lab_primary', 'node3', '127.0.0.9', 24013),
      line('lab_replicas', 'node1', '127.0.0.1', 24011),
      line('lab_replicas', 'node2', '127.0.0.1', 24099),
    ].join('\n'),
  );
  assert.deepEqual(missingServers(context.clusters, live), [
    'lab_primary/node3',
    'lab_replicas/node2',
    'lab_replicas/node3',
  ]);
});
