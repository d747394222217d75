import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, startEtcd, waitFor, type EtcdCluster } from '../harness/index.js';
import { SUPERUSER, startAgentCluster, type AgentCluster } from '../agent/helpers.js';

// `switchyard ctl` against a real agent cluster with REST auth, reached from router.yml or --dcs-url.
let etcd: EtcdCluster;
let cluster: AgentCluster;
let dir: string;
let routerYml: string;
let leader: string;
let replica: string;
const ROOT = new URL('../..', import.meta.url).pathname;
const AUTH = { username: 'ctladmin', password: 'ctl-rest-pw-9' };

const cli = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args], {
    cwd: ROOT,
    timeoutMs: 90_000,
    reject: false,
    env: { ...process.env, CTL_REST_PW: AUTH.password, PGPASSWORD: SUPERUSER.password },
  });
const viaRouter = (...args: string[]) =>
  cli(
    'ctl',
    '--router-config',
    routerYml,
    '--rest-username',
    AUTH.username,
    '--rest-password-env',
    'CTL_REST_PW',
    ...args,
  );
const viaUrl = (...args: string[]) =>
  cli('ctl', '--dcs-url', etcd.endpoints.join(','), '--scope', 'ctlint', ...args);

before(async () => {
  etcd = await startEtcd();
  cluster = await startAgentCluster({ scope: 'ctlint', nodes: 2, etcd, restApiAuth: AUTH });
  for (const n of cluster.nodes) cluster.start(n.name);
  leader = await cluster.waitForLeader({ timeoutMs: 90_000 });
  replica = leader === 'pg1' ? 'pg2' : 'pg1';
  await cluster.waitForReplicas(['pg1', 'pg2']);
  dir = mkdtempSync(join(tmpdir(), 'sy-ctl-'));
  routerYml = join(dir, 'router.yml');
  writeFileSync(
    routerYml,
    `dcs:\n  type: etcd3\n  hosts: [${etcd.endpoints.join(', ')}]\nclusters: [ctlint, other]\ntargets:\n` +
      `  haproxy:\n    output: haproxy.cfg\n    check: null\n    reload: "true"\n    frontends:\n      ctlint: { primary: "127.0.0.1:5000" }\n`,
  );
});

after(async () => {
  await cluster?.stopAll();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('ctl list runs from router.yml, names the cluster to use when it follows several', async () => {
  const ambiguous = await viaRouter('list');
  assert.equal(ambiguous.exitCode, 2, ambiguous.stdout + ambiguous.stderr);
  assert.match(ambiguous.stderr, /name one with --cluster SCOPE/);
  const res = await viaRouter('--cluster', 'ctlint', '-f', 'json', 'list');
  assert.equal(res.exitCode, 0, res.stdout + res.stderr);
  const rows = JSON.parse(res.stdout) as { Member: string; Role: string; State: string }[];
  assert.deepEqual(
    rows.map((r) => [r.Member, r.Role]).sort(),
    [
      [leader, 'Leader'],
      [replica, 'Replica'],
    ].sort(),
  );
});

test('ctl dsn and query from --dcs-url reach the leader and a replica', async () => {
  const dsn = await viaUrl('dsn');
  assert.equal(dsn.exitCode, 0, dsn.stdout + dsn.stderr);
  assert.equal(dsn.stdout.trim(), `host=127.0.0.1 port=${cluster.node(leader).pgPort}`);
  const onLeader = await viaUrl('query', '-c', 'SELECT pg_is_in_recovery() AS r');
  assert.equal(onLeader.exitCode, 0, onLeader.stdout + onLeader.stderr);
  assert.equal(onLeader.stdout, 'r\nfalse\n');
  const onReplica = await viaUrl('query', '--role', 'replica', '-c', 'SELECT pg_is_in_recovery() AS r');
  assert.equal(onReplica.stdout, 'r\ntrue\n', onReplica.stderr);
});

test('ctl restart without member names and without a terminal restarts nothing and asks for --force', async () => {
  const started = await cluster.sql<{ t: string }>(leader, 'SELECT pg_postmaster_start_time()::text AS t');
  const res = await viaRouter('--cluster', 'ctlint', 'restart');
  assert.equal(res.exitCode, 2, res.stdout + res.stderr);
  assert.match(res.stderr, /needs a confirmation.*--force/);
  const after = await cluster.sql<{ t: string }>(leader, 'SELECT pg_postmaster_start_time()::text AS t');
  assert.equal(after[0]?.t, started[0]?.t);
});

test('ctl reload posts /reload to every member with the REST credentials; without them the API refuses', async () => {
  const res = await viaRouter('--cluster', 'ctlint', 'reload');
  assert.equal(res.exitCode, 0, res.stdout + res.stderr);
  assert.match(res.stdout, new RegExp(`reload ${leader}: 2\\d\\d`));
  assert.match(res.stdout, new RegExp(`reload ${replica}: 2\\d\\d`));
  const refused = await viaUrl('reload', replica);
  assert.equal(refused.exitCode, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout, new RegExp(`reload ${replica}: 401`));
  assert.doesNotMatch(refused.stdout + refused.stderr, new RegExp(AUTH.password));
});

test('ctl switchover --force moves the leader to the candidate', async () => {
  const res = await viaRouter('--cluster', 'ctlint', 'switchover', '--candidate', replica, '--force');
  assert.equal(res.exitCode, 0, res.stdout + res.stderr);
  const now = await cluster.waitForLeader({ not: leader, timeoutMs: 60_000 });
  assert.equal(now, replica);
});

test('ctl remove wipes the keys only after the cluster name is given', async () => {
  await cluster.stopAll();
  const wrong = await viaUrl('remove', '--confirm', 'ctl');
  assert.equal(wrong.exitCode, 1, wrong.stdout + wrong.stderr);
  assert.ok(await etcd.get('/service/ctlint/initialize'), 'keys are still there after a wrong name');
  const res = await viaUrl('remove', '--confirm', 'ctlint');
  assert.equal(res.exitCode, 0, res.stdout + res.stderr);
  await waitFor(async () => ((await etcd.get('/service/ctlint/initialize')) === undefined ? true : null), {
    what: 'the cluster keys gone',
    timeoutMs: 5000,
  });
});
