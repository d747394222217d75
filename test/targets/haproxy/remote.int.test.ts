import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { buildClusterState } from '../../../src/cluster/index.js';
import { silentLogger } from '../../../src/log.js';
import { computeView, type RouteView } from '../../../src/route/view.js';
import { HaproxyConfigSchema } from '../../../src/targets/haproxy/config.js';
import { HaproxyTarget } from '../../../src/targets/haproxy/index.js';
import { parseServersState, runtimeCommand } from '../../../src/targets/haproxy/runtime.js';
import { IdentityNode } from '../../harness/router.js';
import { member4x, raw } from '../../fixtures.js';
import { freePorts, startHaproxy, type HaproxyInstance } from '../../harness/index.js';

// Remote mode: no file, no reload; the router drives a real HAProxy 2.6 only through a TCP stats socket
// (`stats socket ipv4@…:port level admin`), as it would an HAProxy on an OpenWrt box. Loopback here;
// members are TCP listeners that answer their name.
let haproxy: HaproxyInstance;
let apiPort = 0;
let frontPort = 0;
const nodes: IdentityNode[] = [];
let leader = 'pg1';

function view(generation: number, names = ['pg1', 'pg2']): RouteView {
  const keys = [raw('leader', leader)];
  for (const n of nodes.filter((x) => names.includes(x.name)))
    keys.push(
      raw(
        `members/${n.name}`,
        member4x({ port: n.port, apiPort: n.apiPort, role: n.name === leader ? 'primary' : 'replica' }),
      ),
    );
  return { ...computeView(buildClusterState('app', keys), { maxReplicaLagBytes: null }), generation };
}

function remoteTarget(): HaproxyTarget {
  const config = HaproxyConfigSchema.parse({
    runtime_api: `tcp://127.0.0.1:${apiPort}`,
    frontends: { app: { primary: `127.0.0.1:${frontPort}` } },
  });
  return new HaproxyTarget(config, {
    log: silentLogger(),
    now: Date.now,
    configDir: '/nonexistent',
    clusters: ['app'],
  });
}

const snapshot = (v: RouteView) => ({
  generation: v.generation,
  views: new Map([[v.scope, v]]),
  dcs: { isConnected: true, lastContactAt: Date.now() },
});

async function whoAnswers(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => s.destroy(new Error('no answer within 2 s')), 2000);
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString().trim());
    });
  });
}

before(async () => {
  for (const name of ['pg1', 'pg2', 'pg3'])
    nodes.push(await new IdentityNode(name, () => name === leader).start());
  [apiPort, frontPort] = (await freePorts(2)) as [number, number];
  // The remote box's own file, as its operator writes it: every member listed, the stats socket on TCP.
  const { text } = await remoteTarget().render(snapshot(view(1)));
  const config = text.replace(
    /^(\s*)stats socket .*$/m,
    `$1stats socket ipv4@127.0.0.1:${apiPort} level admin`,
  );
  assert.notEqual(config, text, 'the template has a stats socket line to replace');
  haproxy = await startHaproxy({ config });
});

after(async () => {
  await haproxy?.stop();
  for (const n of nodes) {
    n.tcp.close();
    n.rest.close();
  }
});

test('a remote HAProxy is driven over a TCP runtime API through a leader change, without a file or a reload', async () => {
  const t = remoteTarget();
  leader = 'pg1';
  await t.apply(snapshot(view(1)));
  let live = parseServersState(
    await runtimeCommand(`tcp://127.0.0.1:${apiPort}`, 'show servers state app_primary'),
  );
  assert.equal(live.get('app_primary/pg1')?.opState, 2, 'pg1 up');
  assert.equal(live.get('app_primary/pg2')?.opState, 0, 'pg2 fenced');
  assert.equal(await whoAnswers(frontPort), 'pg1');

  leader = 'pg2';
  const result = await t.apply(snapshot(view(2)));
  assert.match(result.summary, /runtime API: \d+ commands?/);
  assert.doesNotMatch(result.summary, /reloaded|file written/);
  live = parseServersState(
    await runtimeCommand(`tcp://127.0.0.1:${apiPort}`, 'show servers state app_primary'),
  );
  assert.equal(live.get('app_primary/pg2')?.opState, 2, 'pg2 up');
  assert.equal(live.get('app_primary/pg1')?.opState, 0, 'pg1 fenced');
  assert.equal(await whoAnswers(frontPort), 'pg2', 'writes go to the new leader');
  assert.deepEqual(await t.preview(snapshot(view(2))), [], 'remote mode writes no file');
});

test('a member the remote HAProxy does not list fails the apply with a message about the remote config', async () => {
  const t = remoteTarget();
  leader = 'pg3';
  await assert.rejects(
    t.apply(snapshot(view(3, ['pg1', 'pg2', 'pg3']))),
    /remote HAProxy at tcp:\/\/127\.0\.0\.1:\d+ lacks app_primary\/pg3.*must list every member/,
  );
  leader = 'pg2';
});

test('an unreachable remote runtime API fails the apply with a clear message', async () => {
  const [closed] = (await freePorts(1)) as [number];
  const config = HaproxyConfigSchema.parse({
    runtime_api: `tcp://127.0.0.1:${closed}`,
    frontends: { app: { primary: `127.0.0.1:${frontPort}` } },
  });
  const t = new HaproxyTarget(config, {
    log: silentLogger(),
    now: Date.now,
    configDir: '/nonexistent',
    clusters: ['app'],
  });
  await assert.rejects(t.apply(snapshot(view(4))), /SY_ERR_RUNTIME_API|ECONNREFUSED.*stats socket bound/);
});
