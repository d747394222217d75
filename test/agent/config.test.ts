import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentConfig } from '../../agent/config/load.js';
import { ConfigError } from '../../src/errors.js';

const BASE = `
scope: lab
name: node1
restapi:
  listen: 127.0.0.1:8008
  connect_address: 127.0.0.1:8008
  authentication: {username: admin, password: secret}
etcd3:
  hosts: 127.0.0.1:2379,127.0.0.2:2379
bootstrap:
  dcs: {ttl: 10, loop_wait: 2, retry_timeout: 4, maximum_lag_on_failover: 1048576, synchronous_mode: true,
        postgresql: {use_pg_rewind: true, parameters: {wal_log_hints: 'on'}}}
  initdb: [{encoding: UTF8}, data-checksums]
  pg_hba: [host replication replicator 127.0.0.1/32 md5]
  users: {admin: {password: x, options: [createrole]}}
postgresql:
  listen: 127.0.0.1:5432
  connect_address: 127.0.0.1:5432
  data_dir: /var/lib/pg/data
  authentication:
    superuser: {username: postgres, password: pw}
    replication: {username: replicator, password: rep}
  parameters:
tags: {nofailover: false, clonefrom: true}
`;

test('parses a Patroni config with hosts as a comma-separated string', () => {
  const { config, warnings } = parseAgentConfig(BASE, 'node.yml');
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.etcd.hosts, ['127.0.0.1:2379', '127.0.0.2:2379']);
  assert.equal(config.namespace, '/service');
  assert.equal(config.restapi.listenPort, 8008);
  assert.equal(config.postgresql.port, 5432);
  assert.deepEqual(config.initdbArgs, ['--encoding=UTF8', '--data-checksums']);
  assert.deepEqual(config.tags, { clonefrom: true });
  assert.deepEqual(config.postgresql.parameters, {});
  assert.equal(config.bootstrapDcs['ttl'], 10);
});

test('accepts etcd3.hosts as a YAML list', () => {
  const { config } = parseAgentConfig(
    BASE.replace('hosts: 127.0.0.1:2379,127.0.0.2:2379', 'hosts: [a:1, b:2]'),
    'n.yml',
  );
  assert.deepEqual(config.etcd.hosts, ['a:1', 'b:2']);
});

test('reports each unknown key once, by name, and still starts', () => {
  const text = `${BASE}watchdog: {mode: off}\nlog: {level: INFO}\n`.replace(
    '  data_dir:',
    '  callbacks: {on_start: /bin/true}\n  data_dir:',
  );
  const { warnings } = parseAgentConfig(text, 'node.yml');
  assert.deepEqual(warnings, [
    'node.yml: postgresql.callbacks: not implemented by the agent; ignored',
    'node.yml: watchdog: not implemented by the agent; ignored',
    'node.yml: log: not implemented by the agent; ignored',
  ]);
});

test('a wrong type is an error naming the file and key path', () => {
  assert.throws(
    () => parseAgentConfig(BASE.replace('ttl: 10', "ttl: 'ten'"), 'node.yml'),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.code === 'SY_ERR_CONFIG_INVALID' &&
      err.problems.some((p) => p.startsWith('node.yml: bootstrap.dcs.ttl: Expected number')),
  );
});

test('an impossible timing combination is an error', () => {
  assert.throws(
    () => parseAgentConfig(BASE.replace('retry_timeout: 4', 'retry_timeout: 10'), 'node.yml'),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems[0] ===
        'node.yml: bootstrap.dcs: loop_wait + 2 × retry_timeout must be ≤ ttl, got 2 + 2 × 10 > 10',
  );
});

test('a bad port and a missing data_dir are both reported', () => {
  const text = BASE.replace('listen: 127.0.0.1:5432', 'listen: 127.0.0.1:99999').replace(
    '  data_dir: /var/lib/pg/data\n',
    '',
  );
  assert.throws(
    () => parseAgentConfig(text, 'node.yml'),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.includes('node.yml: postgresql.listen: port out of range') &&
      err.problems.includes('node.yml: postgresql.data_dir: Required'),
  );
});

test('passwords never appear in error messages', () => {
  try {
    parseAgentConfig(BASE.replace('hosts: 127.0.0.1:2379,127.0.0.2:2379', 'hosts: 5'), 'node.yml');
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.ok(!JSON.stringify(err.problems).includes('secret'));
  }
});

test('synchronous_mode: quorum in node.yml is refused with a message naming the key and what to use instead', () => {
  assert.throws(
    () => parseAgentConfig(BASE.replace('synchronous_mode: true', 'synchronous_mode: quorum'), 'node.yml'),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.some(
        (p) =>
          p.startsWith('node.yml: bootstrap.dcs.synchronous_mode:') &&
          p.includes('quorum commit') &&
          p.includes('use synchronous_mode: on'),
      ),
  );
});
