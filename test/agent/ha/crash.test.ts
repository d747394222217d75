import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crashPolicy } from '../../../agent/ha/crash.js';
import { decide } from '../../../agent/ha/decide.js';
import { cluster, member, snapshot, stoppedPg } from './fixtures.js';

const sync = (config: Record<string, unknown> = {}, standbyState = 'running') =>
  cluster({
    config: { synchronous_mode: true, ...config },
    sync: { leader: 'pg1', sync_standby: 'pg2' },
    members: {
      pg1: member('pg1', { role: 'master' }),
      pg2: member('pg2', { state: standbyState }),
      pg3: member('pg3'),
    },
  });

const crashed = (c: ReturnType<typeof cluster>, downMs = 0) =>
  decide(snapshot({ pg: stoppedPg, cluster: c, pgDownForMs: downMs }));

test('a crashed leader with a running synchronous standby in /sync hands the key to it at once by default', () => {
  const d = crashed(sync());
  assert.deepEqual(d.actions, [{ kind: 'release_after_crash', candidate: 'pg2' }]);
  assert.match(d.sentence, /primary_start_timeout 0 s \(default \(synchronous standby in \/sync\)\)/);
});

test('primary_start_timeout 0 in the cluster config fails over at once in asynchronous mode too (a race)', () => {
  const d = crashed(cluster({ config: { primary_start_timeout: 0 } }));
  assert.deepEqual(d.actions, [{ kind: 'release_after_crash', candidate: null }]);
});

test('a large primary_start_timeout restarts the crashed primary in place, even with a synchronous standby', () => {
  assert.deepEqual(
    crashed(sync({ primary_start_timeout: 300 }), 5000).actions.map((a) => a.kind),
    ['start_primary'],
  );
});

test('the key is released once PostgreSQL stayed down longer than primary_start_timeout', () => {
  const d = crashed(sync({ primary_start_timeout: 30 }), 31_000);
  assert.deepEqual(d.actions, [{ kind: 'release_after_crash', candidate: 'pg2' }]);
});

test('in synchronous mode without a running /sync standby the crashed primary is restarted (nothing to fail over to)', () => {
  const d = crashed(sync({ primary_start_timeout: 0 }, 'stopped'));
  assert.deepEqual(
    d.actions.map((a) => a.kind),
    ['start_primary'],
  );
  assert.match(d.sentence, /nobody to fail over to/);
});

test('an invalid primary_start_timeout is named in the sentence and the default applies', () => {
  const c = sync({ primary_start_timeout: '5 minutes' });
  const p = crashPolicy(snapshot({ pg: stoppedPg, cluster: c }), c);
  assert.equal(p.timeoutS, 0);
  assert.equal(p.invalid, '"5 minutes"');
  assert.match(crashed(c).sentence, /primary_start_timeout "5 minutes" is not a number ≥ 0/);
});

test('asynchronous mode without primary_start_timeout keeps Patroni’s 300 s of restarting in place', () => {
  const c = cluster();
  assert.equal(crashPolicy(snapshot({ pg: stoppedPg, cluster: c }), c).timeoutS, 300);
  assert.deepEqual(
    crashed(c, 299_000).actions.map((a) => a.kind),
    ['start_primary'],
  );
});
