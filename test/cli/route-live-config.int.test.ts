// `switchyard route` applies a changed config without SIGHUP: an edited file, a Kubernetes-style
// ConfigMap swap of the `..data` symlink, and an invalid edit that keeps the running config.
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ProcessGroup, freePort, httpRequest, startEtcd, waitFor } from '../harness/index.js';
import type { EtcdCluster } from '../harness/index.js';
import { memberJson, runRouter } from '../harness/router.js';

let etcd: EtcdCluster;
let group: ProcessGroup;

const member = (port: number) => memberJson(port, 'master', { version: '3.0.2' });

before(async () => {
  etcd = await startEtcd();
  group = ProcessGroup.create('route-live-config');
  await etcd.put('/service/live/members/pg1', member(25432));
  await etcd.put('/service/live/leader', 'pg1');
});

after(async () => {
  await group?.cleanup();
  await etcd?.stop();
});

function routerYaml(api: string, output: string, bind: string): string {
  return stringify({
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    namespace: '/service',
    clusters: ['live'],
    api: { listen: api },
    targets: { haproxy: { output, frontends: { live: { primary: bind } } } },
  });
}

async function startRouter(name: string, configPath: string, api: string) {
  await runRouter(group, name, configPath, api, { env: {} });
}

test('an edited config file is applied without SIGHUP, and an invalid edit keeps the running config', async () => {
  const api = `127.0.0.1:${await freePort()}`;
  const output = `${group.dir}/edit-haproxy.cfg`;
  const configPath = `${group.dir}/edit.yml`;
  const [p1, p2] = [await freePort(), await freePort()];
  writeFileSync(configPath, routerYaml(api, output, `127.0.0.1:${p1}`));
  await startRouter('edit', configPath, api);
  await waitFor(() => readFileSync(output, 'utf8').includes(`bind 127.0.0.1:${p1}`) || null, {
    what: 'first render',
    timeoutMs: 10_000,
  });

  writeFileSync(configPath, routerYaml(api, output, `127.0.0.1:${p2}`));
  await waitFor(() => readFileSync(output, 'utf8').includes(`bind 127.0.0.1:${p2}`) || null, {
    what: 'the edited listener rendered',
    timeoutMs: 10_000,
    diagnose: () => group.logTail('edit'),
  });
  assert.match(group.logTail('edit'), /applying the new config \(changed: targets\.haproxy\)/);

  writeFileSync(configPath, 'dcs: [this is not a router config\n');
  await waitFor(() => /new config is invalid; keeping the running one/.test(group.logTail('edit')) || null, {
    what: 'the invalid edit reported',
    timeoutMs: 10_000,
    diagnose: () => group.logTail('edit'),
  });
  const health = await httpRequest(`http://${api}/health`);
  assert.equal(health.status, 200, 'still routing on the last good config');
  assert.match(readFileSync(output, 'utf8'), new RegExp(`bind 127\\.0\\.0\\.1:${p2}`));
});

test('a ConfigMap-style swap of the ..data symlink is applied', async () => {
  const api = `127.0.0.1:${await freePort()}`;
  const output = `${group.dir}/cm-haproxy.cfg`;
  const mount = `${group.dir}/configmap`;
  const [p1, p2] = [await freePort(), await freePort()];
  // The layout kubelet makes: router.yml -> ..data/router.yml, ..data -> ..<timestamp>
  mkdirSync(`${mount}/..v1`, { recursive: true });
  writeFileSync(`${mount}/..v1/router.yml`, routerYaml(api, output, `127.0.0.1:${p1}`));
  symlinkSync('..v1', `${mount}/..data`);
  symlinkSync('..data/router.yml', `${mount}/router.yml`);
  await startRouter('configmap', `${mount}/router.yml`, api);
  await waitFor(() => readFileSync(output, 'utf8').includes(`bind 127.0.0.1:${p1}`) || null, {
    what: 'first render',
    timeoutMs: 10_000,
  });

  mkdirSync(`${mount}/..v2`);
  writeFileSync(`${mount}/..v2/router.yml`, routerYaml(api, output, `127.0.0.1:${p2}`));
  symlinkSync('..v2', `${mount}/..data_tmp`);
  renameSync(`${mount}/..data_tmp`, `${mount}/..data`);
  await waitFor(() => readFileSync(output, 'utf8').includes(`bind 127.0.0.1:${p2}`) || null, {
    what: 'the swapped ConfigMap applied',
    timeoutMs: 10_000,
    diagnose: () => group.logTail('configmap'),
  });
});
