import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import {
  freePort,
  haproxyCheck,
  haproxyCommand,
  isAlive,
  patroniHaproxyConfig,
  startEtcd,
  startHaproxy,
  startPatroniCluster,
  waitFor,
  type EtcdCluster,
} from './index.js';

describe('etcd', () => {
  test('a single member starts, stores a key and compacts', async () => {
    const etcd = await startEtcd();
    try {
      await etcd.put('/harness/a', 'one');
      assert.equal(await etcd.get('/harness/a'), 'one');
      assert.equal(await etcd.get('/harness/missing'), undefined);
      const rev = await etcd.compact();
      assert.ok(rev >= 2);
    } finally {
      await etcd.stop();
    }
    assert.equal(existsSync(etcd.group.dir), false);
  });

  test('three members answer, and a stopped member rejoins', async () => {
    const etcd = await startEtcd({ members: 3 });
    try {
      assert.equal(etcd.endpoints.length, 3);
      await etcd.stopMember(2);
      await etcd.put('/harness/b', 'two');
      await etcd.startMember(2);
      const value = await etcd.etcdctl(['get', '/harness/b', '--print-value-only'], {
        endpoints: [etcd.clientUrls[2] as string],
      });
      assert.equal(value.trim(), 'two');
    } finally {
      await etcd.stop();
    }
  });

  test('TLS etcd rejects a client without a certificate and accepts one with it', async () => {
    const etcd = await startEtcd({ tls: true });
    try {
      assert.equal(etcd.protocol, 'https');
      assert.ok(etcd.tls);
      const rejected = await etcd.etcdctlResult(['put', '/harness/c', 'x'], { withCert: false });
      assert.notEqual(rejected.exitCode, 0);
      await etcd.put('/harness/c', 'ok');
      assert.equal(await etcd.get('/harness/c'), 'ok');
    } finally {
      await etcd.stop();
    }
  });

  test('auth etcd rejects a client without password', async () => {
    const etcd = await startEtcd({ auth: { username: 'root', password: 'secret-pw' } });
    try {
      const rejected = await etcd.etcdctlResult(['put', '/harness/d', 'x'], { withAuth: false });
      assert.notEqual(rejected.exitCode, 0);
      assert.match(rejected.stderr, /user name is empty|permission denied|authentication/i);
      await etcd.put('/harness/d', 'ok');
      assert.equal(await etcd.get('/harness/d'), 'ok');
    } finally {
      await etcd.stop();
    }
  });
});

describe('patroni with haproxy', () => {
  let etcd: EtcdCluster | undefined;
  after(async () => {
    await etcd?.stop();
  });

  test('a 3-node cluster elects a leader, HAProxy follows it, switchover moves it, and cleanup leaves nothing', async () => {
    etcd = await startEtcd();
    const cluster = await startPatroniCluster({ scope: 'harness', nodes: 3, etcd });
    const pids: number[] = [];
    let haproxyDir = '';
    try {
      const first = await cluster.waitForLeader();
      assert.ok(cluster.nodes.some((n) => n.name === first));
      assert.equal(await etcd.get(`${cluster.prefix}leader`), first);

      const stats = `${cluster.group.dir}/haproxy-stats.sock`;
      const h = await startHaproxy({
        config: patroniHaproxyConfig({
          nodes: cluster.nodes,
          primaryPort: await freePort(),
          statsSocket: stats,
          checkInter: '500ms',
        }),
      });
      haproxyDir = h.group.dir;
      try {
        assert.equal((await haproxyCheck(h.configPath)).ok, true);
        await waitFor(
          async () => {
            const state = await haproxyCommand(stats, 'show stat');
            return state.split('\n').some((l) => l.startsWith(`primary,${first},`) && l.includes(',UP,'));
          },
          { timeoutMs: 15_000, what: `haproxy to mark ${first} UP` },
        );
        const newWorker = await h.reload();
        assert.ok(isAlive(newWorker));

        const second = await cluster.switchover();
        assert.notEqual(second, first);
        const rows = await cluster.sql<{ r: boolean }>(second, 'select pg_is_in_recovery() as r');
        assert.equal(rows[0]?.r, false);
        await cluster.waitForHealthy();

        pids.push(h.pid, ...(await h.workerPids()));
      } finally {
        await h.stop();
      }
      for (const n of cluster.nodes) {
        const p = n.patroniPid();
        const q = n.postgresPid();
        if (p !== undefined) pids.push(p);
        if (q !== undefined) pids.push(q);
      }
      assert.ok(pids.length >= 6, `expected patroni and postgres pids, got ${pids.join(',')}`);
    } finally {
      await cluster.stop();
    }
    assert.deepEqual(
      pids.filter((p) => isAlive(p)),
      [],
    );
    assert.equal(existsSync(cluster.group.dir), false);
    assert.equal(existsSync(haproxyDir), false);
  });
});
