import { PassThrough } from 'node:stream';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../src/log.js';

async function lines(
  write: (log: ReturnType<typeof createLogger>) => void,
): Promise<Array<Record<string, unknown>>> {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  const log = createLogger({ destination: stream, level: 'debug' });
  write(log);
  await new Promise((resolve) => setImmediate(resolve));
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('JSON log lines carry the level name, not pino’s number', async () => {
  const [warn, info] = await lines((log) => {
    log.warn('etcd unreachable');
    log.info('routed');
  });
  assert.equal(warn?.['level'], 'warn');
  assert.equal(info?.['level'], 'info');
  assert.equal(warn?.['msg'], 'etcd unreachable');
});

test('password and authorization fields are redacted whatever the caller passes', async () => {
  const [line] = await lines((log) =>
    log.info({ password: 's3cret', dcs: { password: 'x' }, authorization: 'Basic y' }, 'config'),
  );
  assert.equal(line?.['password'], '[redacted]');
  assert.deepEqual(line?.['dcs'], { password: '[redacted]' });
  assert.equal(line?.['authorization'], '[redacted]');
  assert.doesNotMatch(JSON.stringify(line), /s3cret|Basic y/);
});
