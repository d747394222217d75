import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Etcd3 } from 'etcd3';
import { connectEtcd } from '../../src/dcs/connect.js';
import { watchKeys } from '../../src/dcs/key-watch.js';
import { startEtcd, waitFor, type EtcdCluster } from '../harness/index.js';

let etcd: EtcdCluster;
let client: Etcd3;
const log = pino({ level: 'silent' });

before(async () => {
  etcd = await startEtcd();
  client = await connectEtcd({ hosts: etcd.endpoints });
});
after(async () => {
  client?.close();
  await etcd?.stop();
});

/** The watch is created asynchronously: write `key` until its event arrives. */
async function untilDelivered(
  prefix: string,
  key: string,
  seen: string[],
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(
    async () => {
      await etcd.put(`${prefix}${key}`, 'x');
      return seen.includes(key);
    },
    { what: `the watch event for ${prefix}${key}`, timeoutMs, intervalMs: 100 },
  );
}

test('puts and deletes under the prefix arrive as relative keys; other prefixes do not; stop ends delivery', async () => {
  const seen: string[] = [];
  const w = watchKeys(client, '/service/demo/', (k) => seen.push(k), { log, retryMs: () => 100 });
  try {
    await untilDelivered('/service/demo/', 'leader', seen);
    seen.length = 0;
    await etcd.put('/service/other/leader', 'x');
    await etcd.put('/service/demo/members/pg2', '{}');
    await etcd.etcdctl(['del', '/service/demo/leader']);
    await waitFor(() => seen.length >= 2, { what: 'two events', timeoutMs: 5000 });
    assert.deepEqual(seen, ['members/pg2', 'leader']);
  } finally {
    await w.stop();
  }
  seen.length = 0;
  await etcd.put('/service/demo/leader', 'pg2');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(seen, [], 'nothing after stop');
});

test('the watch survives an etcd restart: a put after it is still delivered', async () => {
  const seen: string[] = [];
  const w = watchKeys(client, '/service/restart/', (k) => seen.push(k), { log, retryMs: () => 100 });
  try {
    await untilDelivered('/service/restart/', 'config', seen);
    await etcd.kill();
    await etcd.restart();
    await untilDelivered('/service/restart/', 'leader', seen, 30_000);
  } finally {
    await w.stop();
  }
});

test('stop while the watch is still being created leaves no watcher behind', async () => {
  const seen: string[] = [];
  const w = watchKeys(client, '/service/early/', (k) => seen.push(k), { log, retryMs: () => 100 });
  await w.stop();
  await new Promise((r) => setTimeout(r, 500));
  await etcd.put('/service/early/leader', 'pg1');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(seen, []);
});
