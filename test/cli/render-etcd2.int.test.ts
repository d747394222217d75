import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { main } from '../../src/cli/main.js';
import { startEtcd, type EtcdCluster } from '../harness/index.js';
import { memberJson } from '../harness/router.js';

// `switchyard render` with `dcs.type: etcd` reads Patroni's v2 keys (it used to read v3 and find nothing).
let etcd: EtcdCluster;
let dir: string;

before(async () => {
  etcd = await startEtcd({ enableV2: true });
  dir = mkdtempSync(join(tmpdir(), 'sy-render-v2-'));
});
after(async () => {
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function put(key: string, value: string): Promise<void> {
  const res = await request(`${etcd.clientUrls[0]}/v2/keys${key}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ value }).toString(),
    headersTimeout: 5000,
    bodyTimeout: 5000,
  });
  await res.body.text();
  assert.ok(res.statusCode < 300, `PUT ${key}: ${res.statusCode}`);
}

const member = (port: number, role: string) => memberJson(port, role, { timeline: 1 });

test('render with dcs.type etcd writes the leader that Patroni published through the etcd v2 API', async () => {
  await put('/service/demo/members/pg1', member(15432, 'replica'));
  await put('/service/demo/members/pg2', member(15433, 'master'));
  await put('/service/demo/leader', 'pg2');
  const config = join(dir, 'router.yml');
  writeFileSync(
    config,
    `dcs:\n  type: etcd\n  hosts: [${etcd.endpoints.join(', ')}]\nclusters: [demo]\ntargets:\n` +
      `  haproxy:\n    output: haproxy.cfg\n    check: null\n    reload: "true"\n    frontends:\n      demo: { primary: "127.0.0.1:5000" }\n`,
  );
  assert.equal(await main(['node', 'switchyard', 'render', '-c', config]), 0);
  const cfg = readFileSync(join(dir, 'haproxy.cfg'), 'utf8');
  assert.match(cfg, /# cluster demo: writes to pg2/, cfg);
  assert.match(cfg, /server pg2 127\.0\.0\.1:15433 check port 16433\n/, cfg);
});
