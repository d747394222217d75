import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcd, type EtcdCluster } from '../harness/index.js';
import { StopHandshake } from '../../src/dcs/drain.js';
import { runBeforeStop, type BeforeStopTarget } from '../../src/cli/before-stop.js';

describe('stop handshake between switchyard switchover and the before_stop hook, on a real etcd', () => {
  let etcd: EtcdCluster;
  let scopeNo = 0;
  const target = (name = 'pg1'): BeforeStopTarget => ({
    conn: { hosts: etcd.clientUrls },
    namespace: '/service',
    scope: `drain${scopeNo}`,
    name,
  });
  const command = () => StopHandshake.open({ hosts: etcd.clientUrls }, '/service', `drain${scopeNo}`);

  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });

  test('without an armed handshake the hook returns after one read', async () => {
    scopeNo++;
    const line = await runBeforeStop(target(), 5000);
    assert.match(line, /^switchyard before-stop: pg1: not armed \((\d+) ms\)$/);
    assert.ok(Number(/\((\d+) ms\)/.exec(line)?.[1]) < 1000, line);
  });

  test('a handshake armed for another member, or expired, does not hold this one', async () => {
    scopeNo++;
    const cmd = await command();
    try {
      await cmd.arm('pg2', Date.now() + 10_000);
      assert.match(await runBeforeStop(target('pg1'), 5000), /: not armed \(/);
      await cmd.arm('pg1', Date.now() - 1);
      assert.match(await runBeforeStop(target('pg1'), 5000), /: not armed \(/);
    } finally {
      await cmd.close();
    }
  });

  test('the hook holds the stop until the command has paused, then returns', async () => {
    scopeNo++;
    const cmd = await command();
    try {
      await cmd.arm('pg1', Date.now() + 10_000);
      const seen = cmd.stopping(10_000);
      let hookDone = 0;
      const hook = runBeforeStop(target(), 5000).then((l) => ((hookDone = Date.now()), l));
      assert.deepEqual(
        await seen,
        { candidate: null },
        'the command learns the stop is coming (the hook names no candidate)',
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(hookDone, 0, 'the hook still waits while the command pauses');
      const pausedAt = Date.now();
      await cmd.paused();
      const line = await hook;
      assert.match(line, /: paused \(\d+ ms\)$/);
      assert.ok(
        hookDone >= pausedAt && hookDone - pausedAt < 1000,
        `returned ${hookDone - pausedAt} ms after the answer`,
      );
    } finally {
      await cmd.close();
    }
  });

  test('the hook waits no longer than --wait-ms when the command never answers', async () => {
    scopeNo++;
    const cmd = await command();
    try {
      await cmd.arm('pg1', Date.now() + 10_000);
      const started = Date.now();
      const line = await runBeforeStop(target(), 400);
      const took = Date.now() - started;
      assert.match(line, /: no answer \(/);
      assert.ok(took >= 350 && took < 1500, `took ${took} ms`);
    } finally {
      await cmd.close();
    }
  });

  test('a command that ends (its lease revoked) releases a waiting hook at once', async () => {
    scopeNo++;
    const cmd = await command();
    await cmd.arm('pg1', Date.now() + 10_000);
    const seen = cmd.stopping(10_000);
    const hook = runBeforeStop(target(), 5000);
    assert.deepEqual(await seen, { candidate: null });
    const closedAt = Date.now();
    await cmd.close();
    const line = await hook;
    assert.match(line, /: gone \(/);
    assert.ok(Date.now() - closedAt < 1000, line);
  });

  test('with etcd unreachable the hook gives up within its etcd budget', async () => {
    const started = Date.now();
    const line = await runBeforeStop({ ...target(), conn: { hosts: ['http://127.0.0.1:1'] } }, 5000);
    assert.match(line, /: etcd: /);
    assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  });
});
