import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { HaproxyConfigSchema } from '../../../src/targets/haproxy/config.js';
import { HaproxyTarget } from '../../../src/targets/haproxy/index.js';
import { parseServersState } from '../../../src/targets/haproxy/runtime.js';
import { buildClusterState } from '../../../src/cluster/index.js';
import { computeView } from '../../../src/route/view.js';
import { silentLogger } from '../../../src/log.js';
import { raw } from '../../fixtures.js';
import { ProcessGroup, freePorts, startEtcd, startHaproxy, waitFor } from '../../harness/index.js';
import type { EtcdCluster, HaproxyInstance } from '../../harness/index.js';
import { removeStaleLab } from '../../harness/netns.js';
import {
  IdentityNode,
  PatroniKeys,
  routerStatus,
  startRouterProcess,
  whoAnswers,
} from '../../harness/router.js';

// The edge-router layout of issue 14: HAProxy runs on another box (here: its own network namespace,
// joined to the host by a veth pair), with `stats socket ipv4@<box>:<port> level admin`; the router runs
// on the host, follows a real etcd on loopback, has no HAProxy file and drives the box only through
// `runtime_api: tcp://<box>:<port>`. Members are host-side listeners that answer their name, so a client
// connecting through the box learns where its write would land. HAProxy's own checks are slowed to 60 s:
// any move within the test's bound is the router's doing.
const NS = 'syh18-box';
const HOST_IF = 'syh18h';
const HOST_IP = '10.218.77.1';
const BOX_IP = '10.218.77.2';

let etcd: EtcdCluster;
let keys: PatroniKeys;
let haproxy: HaproxyInstance;
let group: ProcessGroup;
let router: Awaited<ReturnType<typeof startRouterProcess>>;
let apiPort = 0;
let frontPort = 0;
let leader = 'pg1';
const nodes: IdentityNode[] = [];

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

function removeNamespace(): void {
  removeStaleLab('syh18'); // deleting the namespace deletes its veth end, and so the host end too
  try {
    ip('link', 'del', HOST_IF);
  } catch {
    // already gone with the namespace
  }
}

function member(n: IdentityNode, role: 'primary' | 'replica'): object {
  return {
    conn_url: `postgres://${HOST_IP}:${n.port}/postgres`,
    api_url: `http://${HOST_IP}:${n.apiPort}/patroni`,
    state: 'running',
    role,
    version: '4.0.7',
    xlog_location: 50_000_000,
    timeline: 2,
  };
}

/** The box operator's own /etc/haproxy.cfg: every member listed, the stats socket on the box's address. */
async function boxConfig(): Promise<string> {
  const target = new HaproxyTarget(
    HaproxyConfigSchema.parse({
      output: '/nonexistent/haproxy.cfg',
      runtime_api: '/nonexistent/admin.sock',
      checks: { inter: '60s', fall: 3, rise: 2 },
      frontends: { app: { primary: `${BOX_IP}:${frontPort}` } },
    }),
    {
      log: silentLogger(),
      now: Date.now,
      configDir: '/nonexistent',
      clusters: ['app'],
    },
  );
  const kvs = [
    raw('leader', 'pg1'),
    ...nodes.map((n) => raw(`members/${n.name}`, JSON.stringify(member(n, 'replica')))),
  ];
  const view = { ...computeView(buildClusterState('app', kvs), { maxReplicaLagBytes: null }), generation: 1 };
  const { text } = await target.render({
    generation: 1,
    views: new Map([['app', view]]),
    dcs: { isConnected: true, lastContactAt: Date.now() },
  });
  const config = text.replace(
    /^(\s*)stats socket .*$/m,
    `$1stats socket ipv4@${BOX_IP}:${apiPort} level admin`,
  );
  assert.notEqual(config, text, 'the template has a stats socket line to replace');
  return config;
}

before(async () => {
  removeNamespace();
  ip('netns', 'add', NS);
  ip('-n', NS, 'link', 'set', 'lo', 'up');
  ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS);
  ip('addr', 'add', `${HOST_IP}/30`, 'dev', HOST_IF);
  ip('link', 'set', HOST_IF, 'up');
  ip('-n', NS, 'addr', 'add', `${BOX_IP}/30`, 'dev', 'eth0');
  ip('-n', NS, 'link', 'set', 'eth0', 'up');
  group = ProcessGroup.create('haproxy-remote-netns');
  etcd = await startEtcd();
  keys = new PatroniKeys(etcd.endpoints, 'app');
  for (const name of ['pg1', 'pg2', 'pg3'])
    nodes.push(await new IdentityNode(name, () => leader === name, HOST_IP).start());
  [apiPort, frontPort] = (await freePorts(2)) as [number, number];
  haproxy = await startHaproxy({ config: await boxConfig(), netns: NS });
  await keys.config();
  for (const n of nodes) await keys.member(n.name, member(n, n.name === leader ? 'primary' : 'replica'));
  await keys.leader(leader);
  router = await startRouterProcess(group, 'router', {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    namespace: '/service',
    clusters: ['app'],
    targets: {
      haproxy: {
        runtime_api: `tcp://${BOX_IP}:${apiPort}`,
        frontends: { app: { primary: `${BOX_IP}:${frontPort}` } },
      },
    },
  });
});

after(async () => {
  try {
    await group?.cleanup();
    await haproxy?.stop();
    await keys?.close();
    await etcd?.stop();
    for (const n of nodes) await n.stop();
  } finally {
    removeNamespace();
  }
});

async function moveLeader(to: string): Promise<void> {
  const from = nodes.find((n) => n.name === leader) as IdentityNode;
  const next = nodes.find((n) => n.name === to) as IdentityNode;
  leader = to;
  await keys.member(from.name, member(from, 'replica'));
  await keys.leader(to);
  await keys.member(next.name, member(next, 'primary'));
}

test('the stats socket is reachable only through the box address: the host has no route to it on loopback', async () => {
  assert.match(await haproxy.runtime('show info'), /^Name: HAProxy$/m, 'harness runtime() speaks TCP');
  const loopback = await new Promise<string>((resolve) => {
    const s = connect(apiPort, '127.0.0.1');
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
  });
  assert.equal(loopback, 'ECONNREFUSED');
});

test('a router on another host follows leader changes through the remote runtime API: writes land on the new leader, no reload', async () => {
  await waitFor(async () => (await whoAnswers(frontPort, 2000, BOX_IP)) === 'pg1', {
    what: 'writes through the box land on pg1',
    timeoutMs: 10_000,
    intervalMs: 50,
    diagnose: () => group.logTail('router'),
  });
  const workers = await haproxy.workerPids();
  for (const to of ['pg2', 'pg3']) {
    const started = Date.now();
    await moveLeader(to);
    await waitFor(async () => (await whoAnswers(frontPort, 2000, BOX_IP)) === to, {
      what: `writes through the box land on ${to}`,
      timeoutMs: 5_000,
      intervalMs: 20,
      diagnose: () => group.logTail('router'),
    });
    assert.ok(Date.now() - started < 5_000, 'far sooner than the box checks (60 s) would move it');
    const live = parseServersState(await haproxy.runtime('show servers state app_primary'));
    for (const n of nodes)
      assert.equal(live.get(`app_primary/${n.name}`)?.opState === 2, n.name === to, `${n.name} state`);
  }
  assert.deepEqual(await haproxy.workerPids(), workers, 'the box HAProxy was never reloaded');
  const status = await routerStatus(router.api);
  assert.equal(status.clusters.app?.leader, 'pg3');
  assert.equal(status.targets.haproxy?.runtime_api?.connected, true);
});
