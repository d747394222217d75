import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClusterState, type RawKey } from '../../../src/cluster/index.js';
import { dsnOf, pickMember } from '../../../src/cli/ctl/index.js';
import { formatList, formatLsn } from '../../../src/cli/ctl/format.js';
import { resolveTarget } from '../../../src/cli/ctl/target.js';

const member = (port: number, role: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    conn_url: `postgres://10.0.0.${port - 5430}:${port}/postgres`,
    api_url: `http://10.0.0.${port - 5430}:8008/patroni`,
    state: role === 'primary' ? 'running' : 'streaming',
    role,
    timeline: 3,
    version: '4.0.4',
    ...extra,
  });
const raw = (entries: Record<string, string>): RawKey[] =>
  Object.entries(entries).map(([key, value], i) => ({ key, value, modRevision: i + 1, lease: '0' }));
const cluster = buildClusterState(
  'main',
  raw({
    leader: 'pg1',
    'members/pg1': member(5432, 'primary', { xlog_location: 50331744 }),
    'members/pg2': member(5433, 'replica', {
      receive_lsn: 50331744,
      replay_lsn: 50331648,
      xlog_location: 50331744,
      pending_restart: true,
    }),
  }),
);

test('dsn prints the libpq keywords of the leader by default and of the named member with --member', () => {
  assert.equal(dsnOf(cluster, pickMember(cluster, undefined)), 'host=10.0.0.2 port=5432');
  assert.equal(dsnOf(cluster, pickMember(cluster, 'pg2')), 'host=10.0.0.3 port=5433');
  assert.equal(pickMember(cluster, undefined, 'replica'), 'pg2');
  assert.throws(() => pickMember(cluster, 'pg9'), /pg9 is not a member of cluster main/);
  assert.throws(() => pickMember(cluster, undefined, 'standby'), /--role must be leader, replica or any/);
});

test('list shows Patroni 4 receive and replay LSN columns when members publish them', () => {
  assert.equal(formatLsn(50331744), '0/3000060');
  assert.equal(formatLsn(2 ** 32 + 16), '1/10');
  const text = formatList('main', cluster);
  assert.match(
    text,
    /\| Member \| Host\s+\| Role\s+\| State\s+\| TL \| Receive LSN \| Lag in MB \| Replay LSN \|/,
  );
  assert.match(text, /\| pg2 .*\| 0\/3000060\s+\|\s+0 \| 0\/3000000\s+\|/);
});

test('list -e adds pending restart', () => {
  const text = formatList('main', cluster, false, true);
  assert.match(text, /Pending restart \| Scheduled restart/);
  assert.match(text, /\| pg2 .*\| \*\s+\|/);
});

test('ctl needs exactly one of --config, --router-config, --dcs-url, and --scope with --dcs-url', async () => {
  await assert.rejects(resolveTarget({ format: 'pretty' }), { exitCode: 2, message: /give one of/ });
  await assert.rejects(resolveTarget({ format: 'pretty', dcsUrl: 'http://127.0.0.1:2379' }), /needs --scope/);
  await assert.rejects(
    resolveTarget({ format: 'pretty', dcsUrl: 'http://h:2379', scope: 's', dcsType: 'consul' }),
    /--dcs-type must be etcd3 .* or etcd/,
  );
  const t = await resolveTarget({
    format: 'pretty',
    dcsUrl: 'http://a:2379, http://b:2379',
    scope: 'main',
    dcsType: 'etcd',
    namespace: '/pg',
    restUsername: 'admin',
    restPasswordEnv: 'SY_TEST_CTL_PW',
  });
  assert.deepEqual(
    { type: t.type, hosts: t.conn.hosts, namespace: t.namespace, scope: t.scope },
    { type: 'etcd', hosts: ['http://a:2379', 'http://b:2379'], namespace: '/pg', scope: 'main' },
  );
  assert.equal(t.auth?.username, 'admin');
});

test('from router.yml the DCS type and namespace come from the file; one followed cluster needs no --cluster', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-ctl-args-'));
  try {
    const path = join(dir, 'router.yml');
    const write = (clusters: string) =>
      writeFileSync(
        path,
        `dcs:\n  type: etcd\n  hosts: [127.0.0.1:2379]\nnamespace: /pg\nclusters: ${clusters}\ntargets:\n` +
          `  haproxy:\n    output: h.cfg\n    check: null\n    reload: "true"\n    frontends:\n      a: { primary: "127.0.0.1:5000" }\n`,
      );
    write('[a]');
    const t = await resolveTarget({ format: 'pretty', routerConfig: path });
    assert.deepEqual([t.type, t.namespace, t.scope], ['etcd', '/pg', 'a']);
    write('[a, b]');
    await assert.rejects(
      resolveTarget({ format: 'pretty', routerConfig: path }),
      /name one with --cluster SCOPE/,
    );
    assert.equal((await resolveTarget({ format: 'pretty', routerConfig: path, cluster: 'b' })).scope, 'b');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
