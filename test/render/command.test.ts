import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { markSecretEnv, runCommand } from '../../src/render/index.js';

const saved = { ...process.env };
before(() => {
  process.env['PGPASSWORD'] = 'pg-secret';
  process.env['ETCD_ROOT_PASSWORD'] = 'etcd-secret';
  process.env['SY_TEST_ADMIN_PW'] = 'named-secret';
  process.env['SY_TEST_PLAIN'] = 'plain-value';
  markSecretEnv('SY_TEST_ADMIN_PW');
});
after(() => {
  for (const name of ['PGPASSWORD', 'ETCD_ROOT_PASSWORD', 'SY_TEST_ADMIN_PW', 'SY_TEST_PLAIN'])
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
});

test('check and reload commands do not see secrets in their environment', async () => {
  const { stdout } = await runCommand('env', { timeoutMs: 5000, purpose: 'reload' });
  assert.doesNotMatch(stdout, /pg-secret|etcd-secret|named-secret/);
  assert.match(stdout, /^SY_TEST_PLAIN=plain-value$/m, 'ordinary variables are passed on');
  assert.match(stdout, /^PATH=/m);
});

test('a command that names a secret variable gets that one and no other', async () => {
  const { stdout } = await runCommand('echo "$SY_TEST_ADMIN_PW ${PGPASSWORD}"; env', {
    timeoutMs: 5000,
    purpose: 'reload',
  });
  assert.match(stdout, /^named-secret pg-secret$/m);
  assert.doesNotMatch(stdout, /etcd-secret/);
});
