import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import {
  freePort,
  haproxyCheck,
  haproxyCommand,
  isAlive,
  reapOrphans,
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
        const good = readFileSync(h.configPath, 'utf8');
        writeFileSync(h.configPath, 'this is not a config\n');
        await assert.rejects(h.reload(), /haproxy reported a failed reload/);
        writeFileSync(h.configPath, good);
        assert.deepEqual(await h.workerPids(), [newWorker]);

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

describe('cleanup of forgotten processes', () => {
  const processesModule = fileURLToPath(new URL('./processes.ts', import.meta.url));

  /** Runs a node child that starts `sleep 300` in a ProcessGroup, prints `<dir> <pid>`, then runs `ending`. */
  function runOwner(ending: string): Promise<{ dir: string; pid: number; code: number | null }> {
    const script = [
      `import { ProcessGroup } from ${JSON.stringify(processesModule)};`,
      `const g = ProcessGroup.create('selftest');`,
      `const p = g.spawn({ name: 'sleeper', command: 'sleep', args: ['300'] });`,
      `console.log(g.dir + ' ' + p.pid);`,
      ending,
    ].join('\n');
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (ending.includes('SIGKILL') && out.includes('\n')) child.kill('SIGKILL');
      });
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        const [dir, pid] = out.trim().split(' ');
        if (!dir || !pid) reject(new Error(`owner printed nothing; stderr: ${err}`));
        else resolve({ dir, pid: Number(pid), code });
      });
    });
  }

  test('a test process that throws still kills its children and removes its temp dir', async () => {
    const { dir, pid, code } = await runOwner("throw new Error('test failed');");
    assert.equal(code, 1);
    assert.equal(isAlive(pid), false);
    assert.equal(existsSync(dir), false);
  });

  test('children of a SIGKILLed test process are reaped by the next harness start', async () => {
    const { dir, pid } = await runOwner(
      "setInterval(() => undefined, 1000); // killed by the parent: 'SIGKILL'",
    );
    assert.equal(isAlive(pid), true);
    assert.ok(reapOrphans() >= 1);
    await waitFor(() => !isAlive(pid), { timeoutMs: 5_000, what: `orphan ${pid} to die` });
    assert.equal(existsSync(dir), false);
  });
});
