import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changedKeys, configReloads, referencedFiles } from '../../src/router/config-watch.js';
import { createMetrics } from '../../src/router/metrics.js';

test('referencedFiles lists templates, password files and TLS files, resolved against the config directory', () => {
  const config = {
    dcs: {
      hosts: ['a:2379'],
      password_file: 'etcd.pw',
      tls: { ca: '/pki/ca.pem', cert: 'c.pem', key: 'k.pem' },
    },
    targets: {
      haproxy: { output: '/etc/haproxy/haproxy.cfg', template: 'haproxy.cfg.hbs' },
      pgbouncer: { databases: { app: { key: 'not-a-file', password_file: '/run/secrets/app' } } },
    },
  };
  assert.deepEqual(referencedFiles(config, '/etc/switchyard'), [
    '/etc/switchyard/c.pem',
    '/etc/switchyard/etcd.pw',
    '/etc/switchyard/haproxy.cfg.hbs',
    '/etc/switchyard/k.pem',
    '/pki/ca.pem',
    '/run/secrets/app',
  ]);
});

test('changedKeys names what changed two levels deep, never the values', () => {
  const before = {
    dcs: { hosts: ['a'], password: 'old' },
    targets: { haproxy: { maxconn: 1 }, vip: { a: 1 } },
  };
  const after = {
    dcs: { hosts: ['a'], password: 'new' },
    targets: { haproxy: { maxconn: 2 }, vip: { a: 1 } },
  };
  assert.deepEqual(changedKeys(before, after), ['dcs.password', 'targets.haproxy']);
  assert.deepEqual(changedKeys(before, before), []);
});

test('config reloads are exported as switchyard_config_reloads_total by result, across registries', async () => {
  const before = { ...configReloads };
  configReloads.applied += 2;
  configReloads.invalid += 1;
  try {
    const text = await createMetrics().registry.metrics();
    assert.match(
      text,
      new RegExp(`switchyard_config_reloads_total\\{result="applied"\\} ${before.applied + 2}\\n`),
    );
    assert.match(
      text,
      new RegExp(`switchyard_config_reloads_total\\{result="invalid"\\} ${before.invalid + 1}\\n`),
    );
  } finally {
    Object.assign(configReloads, before);
  }
});
