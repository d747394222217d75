// examples/edge-router-openwrt is what its README says: both router configs pass `switchyard check`, the
// box's haproxy.cfg passes `haproxy -c` and names exactly the listeners and servers the router drives,
// the on-box option renders a valid file, and the procd init script starts the router (Node 22+ only).
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { buildClusterState } from '../../src/cluster/index.js';
import { loadRouterConfig } from '../../src/config/router.js';
import { silentLogger } from '../../src/log.js';
import { computeView } from '../../src/route/view.js';
import { createTargets } from '../../src/router/start.js';
import type { HaproxyConfig } from '../../src/targets/haproxy/config.js';
import { isRenderable } from '../../src/targets/types.js';
import { member4x, raw } from '../fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = join(ROOT, 'examples', 'edge-router-openwrt');
const file = (name: string) => join(dir, name);
const tmp = mkdtempSync(join(tmpdir(), 'switchyard-openwrt-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function switchyard(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** `listen` name → server names, in file order. */
function listeners(cfg: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of cfg.split('\n')) {
    const listen = /^listen (\S+)/.exec(line);
    if (listen) out.set(listen[1] as string, (current = []));
    else if (/^\S/.test(line)) current = null;
    const server = /^\s+server (\S+) /.exec(line);
    if (server && current) current.push(server[1] as string);
  }
  return out;
}

test('both router configs pass switchyard check (offline, --no-host)', () => {
  for (const name of ['router.yml', 'router-on-box.yml']) {
    const r = switchyard('check', '--config', file(name), '--no-host');
    assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /valid \(clusters: app; targets: haproxy;/);
  }
});

test('the off-box router drives the box only through a TCP runtime API: no file, no reload', () => {
  const config = loadRouterConfig(file('router.yml'));
  const haproxy = (config.targets as Record<string, unknown>)['haproxy'] as HaproxyConfig;
  assert.equal(haproxy.output, undefined);
  assert.equal(haproxy.reload, null);
  assert.equal(haproxy.runtime_api, 'tcp://10.0.0.1:9999');
  const box = readFileSync(file('haproxy.cfg'), 'utf8');
  assert.match(box, /^\s+stats socket ipv4@10\.0\.0\.1:9999 level admin$/m, 'the box listens where the router calls');
  assert.doesNotMatch(box, /^\s*daemon\b/m, "OpenWrt's init script runs haproxy -W -db under procd");
});

test("the box's haproxy.cfg passes haproxy -c and lists exactly the listeners and servers the router drives", async () => {
  const check = spawnSync('haproxy', ['-c', '-f', file('haproxy.cfg')], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(check.status, 0, `haproxy -c: ${check.stdout}${check.stderr}`);
  // What the router expects for cluster `app` with members node1..node3: render it with the on-box
  // config (same frontends) from Patroni 4 keys, and compare names.
  const config = loadRouterConfig(file('router-on-box.yml'));
  const keys = [
    raw('leader', 'node2'),
    raw('config', JSON.stringify({ ttl: 30, loop_wait: 10, retry_timeout: 10 })),
    raw('members/node1', member4x({ port: 5432, apiPort: 8008 })),
    raw('members/node2', member4x({ port: 5432, apiPort: 8008, role: 'primary' })),
    raw('members/node3', member4x({ port: 5432, apiPort: 8008 })),
  ];
  const view = {
    ...computeView(buildClusterState('app', keys), { maxReplicaLagBytes: config.routing.maxReplicaLagBytes }),
    generation: 1,
  };
  const targets = createTargets(config, silentLogger());
  try {
    const target = targets.find((t) => t.name === 'haproxy');
    assert.ok(target && isRenderable(target));
    const [rendered] = await target.preview({
      generation: 1,
      views: new Map([['app', view]]),
      dcs: { isConnected: true, lastContactAt: Date.now() },
    });
    assert.ok(rendered);
    const staged = join(tmp, 'on-box.cfg');
    writeFileSync(staged, rendered.contents);
    const onBox = spawnSync('haproxy', ['-c', '-f', staged], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(onBox.status, 0, `haproxy -c on the on-box render: ${onBox.stdout}${onBox.stderr}`);
    const expected = listeners(rendered.contents);
    const box = listeners(readFileSync(file('haproxy.cfg'), 'utf8'));
    assert.deepEqual([...box.keys()].sort(), [...expected.keys()].sort());
    for (const [name, servers] of expected)
      assert.deepEqual([...(box.get(name) ?? [])].sort(), [...servers].sort(), `servers of ${name}`);
  } finally {
    await Promise.all(targets.map((t) => t.close()));
  }
});

/** Runs the init script's start_service with procd and logger stubbed; NODE replaced by `node`. */
function startService(node: string): { status: number | null; out: string } {
  const script = join(tmp, 'switchyard.init');
  writeFileSync(
    script,
    readFileSync(file('switchyard.init'), 'utf8').replace(/^NODE=.*$/m, `NODE=${node}`),
  );
  const stubs = [
    'procd_open_instance() { echo "open $*"; }',
    'procd_close_instance() { echo close; }',
    'procd_set_param() { echo "param $*"; }',
    'logger() { echo "logger $*"; }',
  ].join('\n');
  const r = spawnSync('sh', ['-c', `${stubs}\n. "$1"\nstart_service`, 'sh', script], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('the procd init script parses and starts the router on Node 22+ with the documented config', () => {
  const text = readFileSync(file('switchyard.init'), 'utf8');
  assert.equal(spawnSync('sh', ['-n', file('switchyard.init')]).status, 0);
  assert.match(text, /^#!\/bin\/sh \/etc\/rc\.common\n/);
  assert.match(text, /^USE_PROCD=1$/m);
  const { status, out } = startService(process.execPath);
  assert.equal(status, 0, out);
  assert.match(
    out,
    new RegExp(
      `^param command ${process.execPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} /opt/switchyard/bin/switchyard\\.js route --config /etc/switchyard/router\\.yml$`,
      'm',
    ),
  );
  assert.match(out, /^param respawn /m);
  assert.match(out, /^param reload_signal HUP$/m);
  assert.match(out, /^param file \/etc\/switchyard\/router\.yml$/m);
  assert.match(out, /^close$/m);
});

test("the procd init script refuses OpenWrt 24.10's Node 20 (and a missing node) with a message", () => {
  const node20 = join(tmp, 'node20');
  writeFileSync(node20, '#!/bin/sh\necho 20\n');
  chmodSync(node20, 0o755);
  for (const node of [node20, join(tmp, 'no-such-node')]) {
    const { status, out } = startService(node);
    assert.notEqual(status, 0, out);
    assert.match(out, /not Node\.js 22 or later; not starting/);
    assert.doesNotMatch(out, /^param command/m, 'procd is never asked to start it');
  }
  assert.match(startService(node20).out, /is Node 20, not Node\.js 22/);
});
