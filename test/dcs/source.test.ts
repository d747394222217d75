import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { etcdConnection, parseRouterConfig } from '../../src/config/router.js';
import { EtcdV2Source } from '../../src/dcs/etcd2.js';
import { EtcdSource, openSource, type SourceListener } from '../../src/dcs/source.js';

const config = (type: string | null) => `
dcs:
${type === null ? '' : `  type: ${type}\n`}  hosts: ["127.0.0.1:2379"]
clusters: ["app"]
targets:
  haproxy:
    output: /tmp/haproxy.cfg
    reload: "true"
    frontends:
      app: { primary: "127.0.0.1:5000" }
`;

const listener: SourceListener = {
  onScope: () => undefined,
  onScopeGone: () => undefined,
  onHealth: () => undefined,
};

async function sourceFor(type: string | null) {
  const c = parseRouterConfig(config(type), '/etc/switchyard/router.yml');
  const opened = await openSource(
    c.dcs.type,
    etcdConnection(c),
    { namespace: c.namespace, clusters: c.clusters, checkIntervalMs: 1000, log: pino({ level: 'silent' }) },
    listener,
  );
  await opened.source.stop();
  opened.close();
  return { type: c.dcs.type, source: opened.source };
}

test("dcs.type etcd (Patroni's etcd: section) selects the v2 source, etcd3 and no type the v3 source", async () => {
  const v2 = await sourceFor('etcd');
  assert.equal(v2.type, 'etcd');
  assert.ok(v2.source instanceof EtcdV2Source);
  const v3 = await sourceFor('etcd3');
  assert.ok(v3.source instanceof EtcdSource);
  const byDefault = await sourceFor(null);
  assert.equal(byDefault.type, 'etcd3');
  assert.ok(byDefault.source instanceof EtcdSource);
});
