import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canRunBeforeStop, drainKey, hasDrainTag, isArmedFor, parseDrain } from '../../src/dcs/drain.js';
import { targetFromPatroniYaml } from '../../src/cli/before-stop.js';

const armed = { version: 1, id: 'a1b2-c3', leader: 'pg1', state: 'armed', expires_at: 2_000_000 };

test('the handshake key sits under the scope, where Patroni and the router ignore it', () => {
  assert.equal(drainKey('/service', 'demo'), '/service/demo/switchyard-drain');
  assert.equal(drainKey('service/', 'demo'), '/service/demo/switchyard-drain');
});

test('a handshake value from etcd is accepted only in its exact shape', () => {
  assert.deepEqual(parseDrain(JSON.stringify(armed)), armed);
  const stopping = { ...armed, state: 'stopping', candidate: 'pg2' };
  assert.deepEqual(
    parseDrain(JSON.stringify(stopping)),
    stopping,
    'a stop announcement may name the candidate',
  );
  for (const bad of [
    JSON.stringify({ ...stopping, candidate: '' }),
    JSON.stringify({ ...stopping, candidate: 7 }),
    JSON.stringify({ ...stopping, candidate: 'x'.repeat(257) }),
    'not json',
    '{}',
    JSON.stringify({ ...armed, state: 'resume' }),
    JSON.stringify({ ...armed, id: 'a b' }),
    JSON.stringify({ ...armed, version: 2 }),
    JSON.stringify({ ...armed, expires_at: '2000000' }),
    JSON.stringify({ ...armed, extra: 1 }),
    JSON.stringify({ ...armed, leader: '' }),
  ]) {
    assert.equal(parseDrain(bad), null, bad);
  }
  assert.equal(parseDrain(null), null);
});

test('the hook waits only for a live handshake armed for its own member', () => {
  const d = parseDrain(JSON.stringify(armed));
  assert.equal(isArmedFor(d, 'pg1', 1_000_000), true);
  assert.equal(isArmedFor(d, 'pg2', 1_000_000), false, 'another member');
  assert.equal(isArmedFor(d, 'pg1', 2_000_000), false, 'expired');
  assert.equal(
    isArmedFor({ ...armed, state: 'paused' } as never, 'pg1', 1_000_000),
    false,
    'already answered',
  );
  assert.equal(isArmedFor(null, 'pg1', 1_000_000), false);
});

test('only the boolean tag true selects the handshake (a string "true" from etcd does not)', () => {
  assert.equal(hasDrainTag({ switchyard_before_stop: true }), true);
  assert.equal(hasDrainTag({ switchyard_before_stop: 'true' }), false);
  assert.equal(hasDrainTag({}), false);
  assert.equal(hasDrainTag(undefined), false);
});

test('before-stop reads etcd, namespace, scope and name from a Patroni YAML and names what is missing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-before-stop-'));
  try {
    const file = join(dir, 'patroni.yml');
    writeFileSync(
      file,
      'scope: demo\nname: pg1\nnamespace: /svc\netcd3:\n  hosts: [127.0.0.1:2379, "https://10.0.0.2:2379"]\n  username: u\n  password: p\npostgresql:\n  before_stop: switchyard before-stop -c x\n',
    );
    const t = targetFromPatroniYaml(file);
    assert.deepEqual(t.conn.hosts, ['127.0.0.1:2379', 'https://10.0.0.2:2379']);
    assert.equal(t.conn.username, 'u');
    assert.deepEqual([t.namespace, t.scope, t.name], ['/svc', 'demo', 'pg1']);
    writeFileSync(file, 'scope: demo\netcd3: {host: 127.0.0.1:2379}\n');
    assert.throws(() => targetFromPatroniYaml(file), /patroni\.yml: name: Required/);
    writeFileSync(file, 'scope: demo\nname: pg1\netcd3: {}\n');
    assert.throws(() => targetFromPatroniYaml(file), /patroni\.yml: etcd3\.hosts: required/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Patroni runs before_stop from 3.0.3 on: the member key version says whether to suggest the hook', () => {
  for (const v of ['3.0.3', '3.1.0', '3.3.2', '4.0.7', '10.0.0']) assert.equal(canRunBeforeStop(v), true, v);
  for (const v of ['3.0.2', '2.1.9', '', 'x', null, undefined])
    assert.equal(canRunBeforeStop(v), false, String(v));
});
