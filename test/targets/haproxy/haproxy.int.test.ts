import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  ProcessGroup,
  freePorts,
  haproxyCheck,
  httpRequest,
  startHaproxy,
  waitFor,
  type EtcdCluster,
  type HaproxyInstance,
} from '../../harness/index.js';
import {
  IdentityNode,
  PatroniKeys,
  memberValue,
  routerStatus,
  startRouterProcess,
  waitApplied,
  whoAnswers,
} from '../../harness/router.js';
import { render, renderWithCli, startHaproxyWithPid, startIdentityLab } from './identity-lab.js';
import type { IdentityLab } from './identity-lab.js';

// Router process + real etcd + real HAProxy (runtime API, state file, master-worker reload), with nodes
// that answer their name: routing is asserted by where connections land.
let etcd: EtcdCluster;
let haproxy: HaproxyInstance;
let keys: PatroniKeys;
let group: ProcessGroup;
let primaryPort: number;
let replicaPort: number;
let leader = 'pg1';
let nodes: IdentityNode[] = [];
let lab: IdentityLab | undefined;
let routerConfig: Record<string, unknown>;
let router: Awaited<ReturnType<typeof startRouterProcess>>;

before(async () => {
  group = ProcessGroup.create('router-haproxy');
  lab = await startIdentityLab({ isLeader: (name) => leader === name, leader, members: 3 });
  ({ etcd, keys, nodes } = lab);
  [primaryPort, replicaPort] = (await freePorts(2)) as [number, number];
  const output = `${group.dir}/haproxy.cfg`;
  routerConfig = {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    namespace: '/service',
    clusters: ['app'],
    targets: {
      haproxy: {
        output,
        runtime_api: `${group.dir}/admin.sock`,
        state_file: `${group.dir}/haproxy.state`,
        reload: `kill -USR2 $(cat ${group.dir}/haproxy.pid)`,
        checks: { inter: '500ms', fall: 2, rise: 2 },
        frontends: { app: { primary: `127.0.0.1:${primaryPort}`, replicas: `127.0.0.1:${replicaPort}` } },
      },
    },
  };
  // First render with the CLI (what config management would run), then start HAProxy on it.
  const dry = await renderWithCli(group, routerConfig, ['--dry-run', '--diff']);
  assert.equal(dry.exitCode, 3, `render --dry-run must exit 3 when the file would change: ${dry.stderr}`);
  assert.match(dry.stdout, /\+listen app_primary/);
  const rendered = await render(`${group.dir}/render.yml`);
  assert.equal(rendered.exitCode, 0, rendered.stderr);
  assert.equal((await haproxyCheck(output)).ok, true);
  haproxy = await startHaproxyWithPid(group, output);
  router = await startRouterProcess(group, 'router', routerConfig);
  await waitFor(async () => (await routerStatus(router.api)).healthy, {
    what: 'router healthy',
    timeoutMs: 15_000,
    diagnose: () => group.logTail('router'),
  });
});

after(async () => {
  await group?.cleanup();
  await haproxy?.stop();
  await lab?.close();
});

/** Waits (5 s) until a connection through the primary listener reaches `name`. */
const writesReach = (name: string, what: string, intervalMs = 20) =>
  waitFor(async () => (await whoAnswers(primaryPort)) === name, { what, timeoutMs: 5000, intervalMs });

/** A connection through the primary listener was refused or closed: it reached no node. */
function assertRefused(answer: string, message: string): void {
  assert.ok(answer === 'closed' || answer.startsWith('error:'), message);
}

async function moveLeader(to: string | null): Promise<void> {
  const from = leader;
  const fromNode = nodes.find((n) => n.name === from);
  leader = to ?? '';
  if (fromNode)
    await keys.member(from, memberValue({ port: fromNode.port, apiPort: fromNode.apiPort, role: 'replica' }));
  await keys.leader(to);
  const toNode = nodes.find((n) => n.name === to);
  if (toNode)
    await keys.member(
      toNode.name,
      memberValue({ port: toNode.port, apiPort: toNode.apiPort, role: 'primary' }),
    );
}

test('writes through the primary listener reach the leader; reads reach replicas', async () => {
  assert.equal(await whoAnswers(primaryPort), 'pg1');
  const reads = new Set<string>();
  for (let i = 0; i < 6; i++) reads.add(await whoAnswers(replicaPort));
  assert.deepEqual([...reads].sort(), ['pg2', 'pg3']);
});

test('a leader change moves the primary listener within the runtime API, without a reload', async () => {
  const workersBefore = await haproxy.workerPids();
  await moveLeader('pg2');
  await writesReach('pg2', 'primary listener on pg2');
  const status = await routerStatus(router.api);
  assert.equal(status.clusters.app!.leader, 'pg2');
  assert.deepEqual(await haproxy.workerPids(), workersBefore, 'a pure leader change must not reload HAProxy');
  assert.match(
    readFileSync(`${group.dir}/haproxy.cfg`, 'utf8'),
    /server pg2 127\.0\.0\.1:\d+ check port \d+\n/,
    'the file follows too',
  );
});

test('without a leader key the primary listener has no server: connections fail fast; replicas keep serving', async () => {
  await moveLeader(null);
  await waitFor(async () => (await routerStatus(router.api)).clusters.app!.leader === null, {
    what: 'router sees no leader',
    timeoutMs: 5000,
  });
  await waitApplied(router.api);
  const started = Date.now();
  const answer = await whoAnswers(primaryPort);
  assertRefused(answer, `expected a refused/closed connection, got ${answer}`);
  assert.ok(Date.now() - started < 1000, 'writes fail fast instead of waiting');
  assert.match(await whoAnswers(replicaPort), /^pg[123]$/);
  await moveLeader('pg3');
  await writesReach('pg3', 'primary listener on pg3');
});

test('hostile member values are ignored, reported in /status and metrics, and never reach the file', async () => {
  await keys.member(
    'evil',
    JSON.stringify({
      conn_url: 'postgres://1.2.3.4:5432\n    server x 6.6.6.6:5432/postgres',
      state: 'running',
      role: 'replica',
    }),
  );
  await keys.member('pg9', '{"conn_url": "postgres://10.9.9.9:5432/postgres", "role": 1}');
  await waitFor(async () => (await routerStatus(router.api)).clusters.app!.invalid.length === 2, {
    what: 'invalid values reported',
    timeoutMs: 5000,
  });
  const metrics = (await httpRequest(`http://${router.api}/metrics`)).body;
  assert.match(metrics, /switchyard_invalid_values_total\{cluster="app",key="members"\} 2/);
  assert.doesNotMatch(readFileSync(`${group.dir}/haproxy.cfg`, 'utf8'), /6\.6\.6\.6|10\.9\.9\.9|evil/);
  assert.equal(await whoAnswers(primaryPort), 'pg3');
});

test('a new member changes the server list: the file is rewritten, checked and HAProxy reloaded', async () => {
  const extra = await new IdentityNode('pg4', () => false).start();
  nodes.push(extra);
  const workersBefore = await haproxy.workerPids();
  await keys.member('pg4', memberValue({ port: extra.port, apiPort: extra.apiPort, role: 'replica' }));
  await waitFor(async () => readFileSync(`${group.dir}/haproxy.cfg`, 'utf8').includes('server pg4'), {
    what: 'pg4 in the file',
    timeoutMs: 5000,
  });
  await waitFor(async () => (await haproxy.workerPids())[0] !== workersBefore[0], {
    what: 'HAProxy reloaded',
    timeoutMs: 10_000,
  });
  await writesReach('pg3', 'writes still on pg3 after reload', 50);
});

test('HAProxy restarted from the file comes up routing to the writer, and the router re-applies live state', async () => {
  await haproxy.kill9();
  haproxy = await startHaproxy({ configPath: `${group.dir}/haproxy.cfg` });
  writeFileSync(`${group.dir}/haproxy.pid`, String(haproxy.pid));
  assert.equal(await whoAnswers(primaryPort), 'pg3', 'the file alone routes writes to the leader');
  await moveLeader('pg1');
  await writesReach('pg1', 'primary listener on pg1 after HAProxy restart');
  const status = await routerStatus(router.api);
  assert.equal(status.targets.haproxy!.runtime_api!.connected, true);
});

test('leader flapping (10 changes/s for 5 s) ends with the final leader applied, no reload, no backlog', async () => {
  await waitApplied(router.api);
  const before = (await routerStatus(router.api)).targets.haproxy as unknown as { reloads: number };
  const names = ['pg1', 'pg2', 'pg3'];
  const deadline = Date.now() + 5000;
  let i = 0;
  for (; i < 50 && Date.now() < deadline; i++) {
    await moveLeader(names[i % 3]!);
    await new Promise((r) => setTimeout(r, 100));
  }
  const final = names[(i - 1) % 3]!;
  const settled = Date.now();
  const status = await waitApplied(router.api, 5000);
  assert.ok(
    Date.now() - settled < 2000,
    'the last change is applied within 2 s after flapping stops: no queue to drain',
  );
  assert.equal((status.clusters as Record<string, { leader: string }>)['app']?.leader, final);
  assert.equal(await whoAnswers(primaryPort), final);
  assert.equal(
    (status.targets.haproxy as unknown as { reloads: number }).reloads,
    before.reloads,
    'leader changes alone never reload',
  );
});

test('a new leader that never becomes writable gets no writes, /health says why; the next writable leader is used', async () => {
  const stuck = nodes.find((n) => n.name === 'pg1')!;
  const from = nodes.find((n) => n.name === leader)!;
  leader = '';
  await keys.member(from.name, memberValue({ port: from.port, apiPort: from.apiPort, role: 'replica' }));
  await keys.leader('pg1');
  await keys.member(
    'pg1',
    memberValue({ port: stuck.port, apiPort: stuck.apiPort, role: 'replica', state: 'running' }),
  );
  await waitApplied(router.api);
  const health = await httpRequest(`http://${router.api}/health`);
  assert.equal(health.status, 503);
  assert.match(
    JSON.parse(health.body).reasons.join(),
    /app: leader pg1 not writable: leader pg1 reports role replica/,
  );
  const answer = await whoAnswers(primaryPort);
  assertRefused(answer, `no writes while the leader is not writable, got ${answer}`);
  leader = 'pg1';
  await moveLeader('pg2');
  await writesReach('pg2', 'the next writable leader gets writes');
});

test('etcd unreachable: routes are kept, /health says why; on return the router resyncs and follows', async () => {
  await waitApplied(router.api);
  etcd.pause();
  try {
    let health: { status: number; body: string } | undefined;
    await waitFor(async () => (health = await httpRequest(`http://${router.api}/health`)).status === 503, {
      what: 'health 503 while etcd is frozen',
      timeoutMs: 10_000,
    });
    assert.match(JSON.parse(health!.body).reasons.join(), /etcd unreachable/);
    const status = await routerStatus(router.api);
    assert.ok((status.dcs.seconds_since_contact ?? 0) >= 1, 'staleness is visible');
    assert.equal(await whoAnswers(primaryPort), 'pg2', 'the last applied routes stay');
  } finally {
    etcd.resume();
  }
  await waitFor(async () => (await routerStatus(router.api)).dcs.connected, {
    what: 'router reconnected',
    timeoutMs: 15_000,
  });
  await moveLeader('pg3');
  await writesReach('pg3', 'follows after etcd returned');
});

test('a compacted watch after an etcd restart is resynced, not left stale', async () => {
  group.signal('router', 'SIGSTOP');
  try {
    await etcd.kill();
    await etcd.restart();
    await moveLeader('pg1');
    for (let i = 0; i < 20; i++)
      await keys.member(
        'pg2',
        memberValue({
          port: nodes[1]!.port,
          apiPort: nodes[1]!.apiPort,
          role: 'replica',
          xlog: 60_000_000 + i,
        }),
      );
    await etcd.compact();
  } finally {
    group.signal('router', 'SIGCONT');
  }
  await waitFor(async () => (await whoAnswers(primaryPort)) === 'pg1', {
    what: 'primary listener on pg1 after compaction',
    timeoutMs: 20_000,
    intervalMs: 50,
    diagnose: () => group.logTail('router'),
  });
});

test('SIGTERM stops the router cleanly with exit code 0', async () => {
  group.signal('router', 'SIGTERM');
  const exit = await router.proc.exited;
  assert.deepEqual(exit, { code: 0, signal: null });
});
