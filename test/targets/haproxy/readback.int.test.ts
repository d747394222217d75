import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  ProcessGroup,
  freePorts,
  haproxyCommand,
  httpRequest,
  waitFor,
  type HaproxyInstance,
} from '../../harness/index.js';
import { routerStatus, startRouterProcess, whoAnswers } from '../../harness/router.js';
import { render, renderWithCli, startHaproxyWithPid, startIdentityLab } from './identity-lab.js';
import type { IdentityLab } from './identity-lab.js';

// The applied state is read from HAProxy (`show servers state`), never assumed from the file: a router
// that restarts between writing the file and reloading, or whose reload silently did nothing, must
// notice that the running HAProxy lacks the leader's server, reload, and not claim "applied" before.
// Real etcd, real HAProxy 2.6 (master-worker), nodes that answer their name.
let haproxy: HaproxyInstance;
let group: ProcessGroup;
let primaryPort: number;
let leader = 'pg1';
let lab: IdentityLab;
let baseConfig: { targets: { haproxy: Record<string, unknown> } } & Record<string, unknown>;

before(async () => {
  group = ProcessGroup.create('router-haproxy-readback');
  lab = await startIdentityLab({ isLeader: (name) => leader === name, leader, members: 2 });
  [primaryPort] = (await freePorts(1)) as [number];
  baseConfig = {
    dcs: { type: 'etcd3', hosts: lab.etcd.endpoints },
    namespace: '/service',
    clusters: ['app'],
    targets: {
      haproxy: {
        output: `${group.dir}/haproxy.cfg`,
        runtime_api: `${group.dir}/admin.sock`,
        reload: `kill -USR2 $(cat ${group.dir}/haproxy.pid)`,
        command_timeout_ms: 3000,
        checks: { inter: '500ms', fall: 2, rise: 2 },
        frontends: { app: { primary: `127.0.0.1:${primaryPort}` } },
      },
    },
  };
  const rendered = await renderWithCli(group, baseConfig);
  assert.equal(rendered.exitCode, 0, rendered.stderr);
  haproxy = await startHaproxyWithPid(group, `${group.dir}/haproxy.cfg`);
  await waitFor(async () => (await whoAnswers(primaryPort)) === 'pg1', {
    what: 'HAProxy routes writes to pg1',
    timeoutMs: 10_000,
  });
});

after(async () => {
  await group?.cleanup();
  await haproxy?.stop();
  await lab?.close();
});

/** pg3 joins and becomes the leader: the file needs a new server line, so HAProxy needs a reload. */
async function pg3TakesOver(): Promise<void> {
  leader = 'pg3';
  await lab.setRole('pg1', 'replica');
  await lab.setRole('pg3', 'primary');
  await lab.keys.leader('pg3');
}

async function runningServers(): Promise<string> {
  return haproxyCommand(`${group.dir}/admin.sock`, 'show servers state app_primary');
}

test('a reload that silently does nothing is not reported as applied: /health stays 503 with the missing server', async () => {
  const config = structuredClone(baseConfig);
  config.targets.haproxy['reload'] = 'true'; // exits 0, reloads nothing
  const router = await startRouterProcess(group, 'router-noop-reload', config);
  try {
    await waitFor(async () => (await routerStatus(router.api)).healthy, {
      what: 'router healthy on pg1',
      timeoutMs: 15_000,
      diagnose: () => group.logTail('router-noop-reload'),
    });
    await pg3TakesOver();
    await waitFor(async () => readFileSync(`${group.dir}/haproxy.cfg`, 'utf8').includes('server pg3'), {
      what: 'pg3 in the file',
      timeoutMs: 10_000,
    });
    // Long enough for a reload, its read-back (3 s) and a retry.
    await new Promise((r) => setTimeout(r, 5000));
    assert.doesNotMatch(await runningServers(), / pg3 /, 'the running HAProxy still lacks pg3');
    const status = await routerStatus(router.api);
    assert.equal(status.clusters.app!.leader, 'pg3');
    assert.equal(status.healthy, false, `must not claim applied: ${JSON.stringify(status.targets)}`);
    const health = await httpRequest(`http://${router.api}/health`);
    assert.equal(health.status, 503);
    assert.match(health.body, /app_primary\/pg3/, 'the reason names the missing server');
  } finally {
    router.proc.child.kill('SIGKILL');
    await router.proc.exited;
  }
});

test('a router restarted between writing the file and reloading reads HAProxy back, reloads, and routes to the new leader', async () => {
  // The file on disk has pg3 (written by the previous router; here rewritten by `switchyard render` so
  // that its bytes are what the next router renders first), the running HAProxy does not.
  const rendered = await render(`${group.dir}/render.yml`);
  assert.equal(rendered.exitCode, 0, rendered.stderr);
  assert.match(readFileSync(`${group.dir}/haproxy.cfg`, 'utf8'), /server pg3 /);
  assert.doesNotMatch(await runningServers(), / pg3 /);
  const workersBefore = await haproxy.workerPids();
  const router = await startRouterProcess(group, 'router-restarted', baseConfig);
  try {
    await waitFor(async () => (await whoAnswers(primaryPort)) === 'pg3', {
      what: 'writes reach pg3',
      timeoutMs: 15_000,
      intervalMs: 50,
      diagnose: () => group.logTail('router-restarted'),
    });
    assert.notDeepEqual(await haproxy.workerPids(), workersBefore, 'HAProxy was reloaded');
    await waitFor(async () => (await routerStatus(router.api)).healthy, {
      what: 'router healthy on pg3',
      timeoutMs: 10_000,
    });
    assert.match(await runningServers(), / pg3 /);
  } finally {
    router.proc.child.kill('SIGKILL');
    await router.proc.exited;
  }
});
