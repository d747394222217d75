// The status page in a real browser (Debian's headless Chromium): a router follows a cluster, the
// leader key moves, and the page shows the new leader and the timeline entry of that change.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ProcessGroup, startEtcd, waitFor, type EtcdCluster } from '../harness/index.js';
import { memberJson, routerStatus, startRouterProcess } from '../harness/router.js';

const exec = promisify(execFile);
let etcd: EtcdCluster;
let group: ProcessGroup;
let router: Awaited<ReturnType<typeof startRouterProcess>>;

const member = (port: number, role: string) =>
  memberJson(port, role, { version: '3.0.2', xlog_location: 50331648, timeline: 1 });

/** Chromium renders the page and returns the DOM after scripts ran; optionally saves a screenshot. */
async function browse(url: string, screenshot?: string): Promise<string> {
  const flags = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--hide-scrollbars',
    '--window-size=1200,900',
  ];
  if (screenshot) await exec('chromium', [...flags, `--screenshot=${screenshot}`, url], { timeout: 60_000 });
  const { stdout } = await exec('chromium', [...flags, '--dump-dom', url], { timeout: 60_000 });
  return stdout;
}

before(async () => {
  etcd = await startEtcd();
  group = ProcessGroup.create('status-page');
  await etcd.put('/service/web/members/pg1', member(25432, 'master'));
  await etcd.put('/service/web/members/pg2', member(25433, 'replica'));
  await etcd.put('/service/web/leader', 'pg1');
  router = await startRouterProcess(group, 'router', {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    namespace: '/service',
    clusters: ['web'],
    targets: {
      haproxy: { output: `${group.dir}/haproxy.cfg`, frontends: { web: { primary: '127.0.0.1:25999' } } },
    },
  });
});

after(async () => {
  await group?.cleanup();
  await etcd?.stop();
});

test('the page at / shows the new leader and the timeline entry of the change, in Chromium', async () => {
  const before = await browse(`http://${router.api}/`);
  assert.match(before, /Leader: <span class="leader">pg1 <span class="ok">writable<\/span>/);
  assert.match(before, /no leader change since the router started/);

  await etcd.put('/service/web/members/pg2', member(25433, 'master'));
  await etcd.put('/service/web/members/pg1', member(25432, 'replica'));
  await etcd.put('/service/web/leader', 'pg2');
  await waitFor(async () => (await routerStatus(router.api)).timeline[0]?.all_applied_ms !== null || null, {
    what: 'the router applied the change on every target',
    timeoutMs: 10_000,
  });

  const shot = `${group.dir}/status-page.png`;
  const after = await browse(`http://${router.api}/`, shot);
  assert.match(after, /Leader: <span class="leader">pg2 <span class="ok">writable<\/span>/);
  assert.match(after, /<td>pg1 → <b>pg2<\/b><\/td><td>\d+ ms<\/td><td>\d+ ms<\/td><td>\d+ ms<\/td>/);
  assert.ok(existsSync(shot) && readFileSync(shot).subarray(1, 4).toString() === 'PNG', 'a PNG screenshot');
  if (process.env['SWITCHYARD_SCREENSHOT']) await exec('cp', [shot, process.env['SWITCHYARD_SCREENSHOT']]);
});
