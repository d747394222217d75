import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { parseAgentConfig, type AgentConfig } from '../../../agent/config/load.js';
import { appendPgHba, writeAgentConf, writePgHba, writePgpass } from '../../../agent/postgres/files.js';
import { PgControl } from '../../../agent/postgres/control.js';
import { SwitchyardError } from '../../../src/errors.js';
import { nodeYaml } from '../fixtures.js';

// These cases only mean something as root (the shipped systemd unit runs the agent as root).
const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root';
const pgUser = isRoot
  ? {
      uid: Number(execFileSync('id', ['-u', 'postgres']).toString()),
      gid: Number(execFileSync('id', ['-g', 'postgres']).toString()),
    }
  : { uid: 0, gid: 0 };

let root: string;
let home: string;
let dataDir: string;
let victim: string;
const VICTIM_TEXT = 'root-only content\n';

function configFor(extra = ''): AgentConfig {
  return parseAgentConfig(
    `scope: lab
name: node1
restapi: {listen: 127.0.0.1:8008, connect_address: 127.0.0.1:8008, authentication: {username: a, password: b}}
etcd3: {hosts: 127.0.0.1:2379}
postgresql:
  listen: 127.0.0.1:5432
  connect_address: 127.0.0.1:5432
  data_dir: ${dataDir}
  bin_dir: /nonexistent/bin
${extra}  authentication:
    superuser: {username: postgres, password: su-secret}
    replication: {username: replicator, password: rep-secret}
`,
    'node.yml',
  ).config;
}

const isRefusal = (what: RegExp) => (err: unknown) =>
  err instanceof SwitchyardError && err.code === 'SY_ERR_AGENT' && what.test(err.message);

function assertVictimUntouched(): void {
  assert.equal(readFileSync(victim, 'utf8'), VICTIM_TEXT);
  const st = statSync(victim);
  assert.equal(st.uid, 0);
  assert.equal(st.mode & 0o777, 0o600);
}

before(() => {
  if (!isRoot) return;
  root = mkdtempSync('/tmp/sy-file-safety-');
  home = join(root, 'home');
  dataDir = join(home, 'data');
  mkdirSync(dataDir, { recursive: true });
  chownSync(home, pgUser.uid, pgUser.gid);
  chownSync(dataDir, pgUser.uid, pgUser.gid);
  chmodSync(dataDir, 0o700);
  victim = join(root, 'victim');
});

test.beforeEach(() => {
  if (!isRoot) return;
  writeFileSync(victim, VICTIM_TEXT, { mode: 0o600 });
  chownSync(victim, 0, 0);
  for (const f of readdirSync(dataDir)) rmSync(join(dataDir, f), { force: true });
  for (const f of readdirSync(home)) if (f !== 'data') rmSync(join(home, f), { force: true });
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

// writeAgentConf writes switchyard.conf and reads then rewrites postgresql.conf (its include line).
for (const [file, how] of [
  ['switchyard.conf', 'is not followed'],
  ['postgresql.conf', 'is neither read nor written'],
] as const) {
  test(`as root, a symlink planted at ${file} ${how}`, { skip }, () => {
    symlinkSync(victim, join(dataDir, file));
    assert.throws(
      () => writeAgentConf(dataDir, { port: 5432 }, pgUser),
      isRefusal(new RegExp(`${file.replace('.', '\\.')}: it is a symbolic link`)),
    );
    assertVictimUntouched();
  });
}

test('as root, a symlink planted at pg_hba.conf is not followed when writing or prepending', { skip }, () => {
  symlinkSync(victim, join(dataDir, 'pg_hba.conf'));
  assert.throws(() => writePgHba(dataDir, ['local all all trust'], pgUser), isRefusal(/symbolic link/));
  assert.throws(() => appendPgHba(dataDir, ['local all all trust'], pgUser), isRefusal(/symbolic link/));
  assertVictimUntouched();
});

test('as root, a symlink planted at the pgpass path is not followed', { skip }, () => {
  const config = configFor();
  symlinkSync(victim, config.postgresql.pgpass);
  assert.throws(() => writePgpass(config, pgUser), isRefusal(/\.pgpass-node1: it is a symbolic link/));
  assertVictimUntouched();
});

test('as root, a symlink planted at the initdb password file is not followed', { skip }, async () => {
  const config = configFor();
  symlinkSync(victim, join(home, '.pwfile-node1'));
  const control = new PgControl(config);
  // initdb itself cannot run (bin_dir does not exist); the password file is written before it.
  await assert.rejects(control.initdb(), /initdb failed/);
  assertVictimUntouched();
});

test('as root, a data directory swapped for a symlink to a root-owned directory is refused', { skip }, () => {
  const elsewhere = join(root, 'etc');
  mkdirSync(elsewhere, { recursive: true });
  const swapped = join(home, 'swapped');
  symlinkSync(elsewhere, swapped);
  assert.throws(
    () => writeAgentConf(swapped, { port: 5432 }, pgUser),
    isRefusal(/owned by uid 0, expected uid \d+/),
  );
  assert.deepEqual(readdirSync(elsewhere), []);
});

test('pgpass defaults to the data directory parent, never /tmp', () => {
  const config = parseAgentConfig(nodeYaml(', allow_unauthenticated_writes: true'), 'node.yml').config;
  assert.equal(config.postgresql.pgpass, '/var/lib/pg/.pgpass-node1');
});

test(
  'a pre-existing pgpass with mode 0644 is rewritten 0600, owned by the data directory owner',
  { skip },
  () => {
    const config = configFor();
    writeFileSync(config.postgresql.pgpass, 'old\n', { mode: 0o644 });
    chmodSync(config.postgresql.pgpass, 0o644);
    writePgpass(config, pgUser);
    const st = statSync(config.postgresql.pgpass);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, pgUser.uid);
    assert.equal(
      readFileSync(config.postgresql.pgpass, 'utf8'),
      '*:*:*:replicator:rep-secret\n*:*:*:postgres:su-secret\n',
    );
  },
);

test('files the agent writes in the data directory are 0600 and owned by its owner', { skip }, () => {
  writeAgentConf(dataDir, { port: 5432 }, pgUser);
  for (const f of ['switchyard.conf', 'postgresql.conf']) {
    const st = statSync(join(dataDir, f));
    assert.equal(st.uid, pgUser.uid, f);
    assert.equal(st.mode & 0o777, 0o600, f);
  }
  assert.deepEqual(readdirSync(dataDir).sort(), ['postgresql.conf', 'switchyard.conf']);
});
