import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAgentConfig } from '../../agent/config/load.js';
import { ConfigReloader } from '../../agent/config/reload.js';
import { silentLogger } from '../../src/log.js';

const dir = mkdtempSync('/tmp/sy-reload-');
const file = join(dir, 'node.yml');
after(() => rmSync(dir, { recursive: true, force: true }));

const yaml = (o: { password?: string; tag?: string; port?: number; params?: string }) => `scope: lab
name: node1
restapi:
  listen: 127.0.0.1:8008
  connect_address: 127.0.0.1:8008
  authentication: {username: admin, password: ${o.password ?? 'one'}}
etcd3: {hosts: 127.0.0.1:2379}
postgresql:
  listen: 127.0.0.1:${o.port ?? 5432}
  connect_address: 127.0.0.1:5432
  data_dir: /var/lib/pg/data
  authentication: {superuser: {username: postgres}, replication: {username: replicator}}
  parameters: {${o.params ?? 'work_mem: 4MB'}}
tags: {zone: ${o.tag ?? 'a'}}
`;

async function setup() {
  writeFileSync(file, yaml({}));
  const config = (await loadAgentConfig(file)).config;
  const calls: string[] = [];
  const target = {
    config,
    control: { rewriteConf: async () => (calls.push('rewriteConf'), true) },
    log: silentLogger(),
    server: null,
    wake: () => void calls.push('wake'),
  };
  return { config, calls, reloader: new ConfigReloader(target) };
}

test('a reload applies new tags, REST credentials and parameters live and reloads PostgreSQL', async () => {
  const { config, calls, reloader } = await setup();
  writeFileSync(file, yaml({ password: 'two', tag: 'b', params: 'work_mem: 8MB' }));
  const r = await reloader.reload();
  assert.equal(r.ok, true);
  assert.equal(
    r.message,
    `reloaded ${file}: applied tags, restapi.authentication, postgresql.parameters; PostgreSQL reloaded`,
  );
  assert.deepEqual(config.tags, { zone: 'b' });
  assert.equal(config.restapi.auth?.password, 'two');
  assert.deepEqual(config.postgresql.parameters, { work_mem: '8MB' });
  assert.deepEqual(calls, ['rewriteConf', 'wake']);
  assert.ok(!r.message.includes('two'), 'no secret in the answer');
});

test('a setting that needs a restart is reported and left as it runs', async () => {
  const { config, reloader } = await setup();
  writeFileSync(file, yaml({ port: 6543 }));
  const r = await reloader.reload();
  assert.equal(r.ok, true);
  assert.equal(
    r.message,
    `reloaded ${file}: nothing to apply; changed but applied only after an agent restart: postgresql.listen`,
  );
  assert.equal(config.postgresql.port, 5432);
});

test('an invalid new file keeps the running configuration and says why', async () => {
  const { config, calls, reloader } = await setup();
  writeFileSync(file, yaml({ tag: 'b' }).replace('listen: 127.0.0.1:8008', 'listen: nope'));
  const r = await reloader.reload();
  assert.equal(r.ok, false);
  assert.match(
    r.message,
    /not reloaded, kept the running configuration: .*restapi\.listen: expected "host:port"/,
  );
  assert.deepEqual(config.tags, { zone: 'a' });
  assert.deepEqual(calls, []);
});
