import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { connectEtcd } from '../../src/dcs/connect.js';
import { watchKeys } from '../../src/dcs/key-watch.js';
import { etcdForFile, waitFor } from '../harness/index.js';

const log = pino({ level: 'silent' });

const lab = etcdForFile((hosts) => connectEtcd({ hosts }));

/** The watch is created asynchronously: write `key` until its event arrives. */
async function untilDelivered(
  prefix: string,
  key: string,
  seen: string[],
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(
    async () => {
      await lab.etcd.put(`${prefix}${key}`, 'x');
      return seen.includes(key);
    },
    { what: `the watch event for ${prefix}${key}`, timeoutMs, intervalMs: 100 },
  );
}

test('puts and deletes under the prefix arrive as relative keys; other prefixes do not; stop ends delivery', async () => {
  const seen: string[] = [];
  const w = watchKeys(lab.client, '/service/demo/', (k) => seen.push(k), { log, retryMs: () => 100 });
  try {
    await untilDelivered('/service/demo/', 'leader', seen);
    seen.length = 0;
    await lab.etcd.put('/service/other/leader', 'x');
    await lab.etcd.put('/service/demo/members/pg2', '{}');
    await lab.etcd.etcdctl(['del', '/service/demo/leader']);
    await waitFor(() => seen.length >= 2, { what: 'two events', timeoutMs: 5000 });
    assert.deepEqual(seen, ['members/pg2', 'leader']);
  } finally {
    await w.stop();
  }
  seen.length = 0;
  await lab.etcd.put('/service/demo/leader', 'pg2');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(seen, [], 'nothing after stop');
});

test('the watch survives an etcd restart: a put after it is still delivered', async () => {
  const seen: string[] = [];
  const w = watchKeys(lab.client, '/service/restart/', (k) => seen.push(k), { log, retryMs: () => 100 });
  try {
    await untilDelivered('/service/restart/', 'config', seen);
    await lab.etcd.kill();
    await lab.etcd.restart();
    await untilDelivered('/service/restart/', 'leader', seen, 30_000);
  } finally {
    await w.stop();
  }
});

test('stop while the watch is still being created leaves no watcher behind', async () => {
  const seen: string[] = [];
  const w = watchKeys(lab.client, '/service/early/', (k) => seen.push(k), { log, retryMs: () => 100 });
  await w.stop();
  await new Promise((r) => setTimeout(r, 500));
  await lab.etcd.put('/service/early/leader', 'pg1');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(seen, []);
});
