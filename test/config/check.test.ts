// The whole-config pass (issue 12, item 3): every mistake a router.yml can hold is found at load, before
// anything runs, and each is named by file, key path and reason.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadRouterConfig } from '../../src/config/router.js';
import { firstWord, unresolvable } from '../../src/config/host.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-check-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fakeIp = join(dir, 'fake-ip');
writeFileSync(fakeIp, '#!/bin/sh\nexit 0\n');
chmodSync(fakeIp, 0o755);
writeFileSync(join(dir, 'not-executable'), 'x');

/** A config on the test etcd following `clusters`, then `rest` (its targets and more). */
const withDcs = (rest: string, clusters = '[app]') => `
dcs: { type: etcd3, hosts: ["127.0.0.1:2379"] }
clusters: ${clusters}
${rest}`;

/** A valid config: HAProxy writing into the test directory, commands that exist on this machine. */
const base = (haproxy: string, extra = '') => `
dcs: { type: etcd3, hosts: ["127.0.0.1:2379"] }
clusters: [app, billing]
api: { listen: "127.0.0.1:8009" }
targets:
  haproxy:
    output: out/haproxy.cfg
    check: haproxy -c -q -f {{file}}
    reload: kill -USR2 1
${haproxy}
${extra}`;
const frontends = `    frontends:
      app: { primary: "127.0.0.1:5000", replicas: "127.0.0.1:5001" }
      billing: { primary: "127.0.0.1:5002" }`;
mkdirSync(join(dir, 'out'));

let n = 0;
function write(text: string): string {
  const file = join(dir, `router-${n++}.yml`);
  writeFileSync(file, text);
  return file;
}

/** The problems of a config that must be rejected, with the file name replaced by `router.yml`. */
function problems(text: string): string[] {
  const file = write(text);
  try {
    loadRouterConfig(file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'SY_ERR_CONFIG_INVALID');
    assert.equal(err.exitCode, 2);
    return err.problems.map((p) => p.replace(`${file}: `, 'router.yml: '));
  }
  assert.fail('expected the config to be rejected');
}

test('a valid config with every file and command in place loads', () => {
  const config = loadRouterConfig(write(base(frontends)));
  assert.deepEqual(config.api.listen, { host: '127.0.0.1', port: 8009 });
});

test('a frontend port above 65535 fails at load with the file, key path and reason', () => {
  assert.deepEqual(problems(base(`    frontends: { app: { primary: "127.0.0.1:99999" } }`)), [
    'router.yml: targets.haproxy.frontends.app.primary: port 99999 is out of range (1–65535)',
  ]);
});

test('port 0 is refused for a frontend and accepted for the API (any free port)', () => {
  assert.deepEqual(problems(base(`    frontends: { app: { primary: "127.0.0.1:0" } }`)), [
    'router.yml: targets.haproxy.frontends.app.primary: port 0 is out of range (1–65535)',
  ]);
  const config = loadRouterConfig(
    write(base(frontends).replace('listen: "127.0.0.1:8009"', 'listen: "127.0.0.1:0"')),
  );
  assert.equal(config.api.listen.port, 0);
});

test("a frontend's primary and replicas on one address are rejected", () => {
  assert.deepEqual(
    problems(base(`    frontends: { app: { primary: "127.0.0.1:5000", replicas: "127.0.0.1:5000" } }`)),
    [
      'router.yml: targets.haproxy.frontends.app.replicas: 127.0.0.1:5000 is the same address as targets.haproxy.frontends.app.primary (127.0.0.1:5000): two listeners cannot share an address',
    ],
  );
});

test("two listeners on one address across frontends, a wildcard bind and the router's API are rejected", () => {
  const text = base(`    frontends:
      app: { primary: "127.0.0.1:8009", replicas: "*:5001" }
      billing: { primary: "127.0.0.1:5001" }`);
  assert.deepEqual(problems(text), [
    'router.yml: targets.haproxy.frontends.app.primary: 127.0.0.1:8009 is the same address as api.listen (127.0.0.1:8009): two listeners cannot share an address',
    'router.yml: targets.haproxy.frontends.billing.primary: 127.0.0.1:5001 is an address overlapping targets.haproxy.frontends.app.replicas (*:5001): two listeners cannot share an address',
  ]);
});

test('a target naming a cluster the router does not follow is rejected', () => {
  assert.deepEqual(
    problems(
      base(`    frontends: { app: { primary: "127.0.0.1:5000" }, shop: { primary: "127.0.0.1:5003" } }`),
    ),
    [
      'router.yml: targets.haproxy.frontends.shop: cluster shop is not one the router follows (clusters: app, billing)',
    ],
  );
});

test('an output directory that does not exist or is a file is named with its key', () => {
  const text = base(frontends)
    .replace('output: out/haproxy.cfg', 'output: missing/haproxy.cfg')
    .replace('    check:', '    state_file: not-executable/state\n    check:');
  assert.deepEqual(problems(text), [
    `router.yml: targets.haproxy.output: directory ${dir}/missing does not exist`,
    `router.yml: targets.haproxy.state_file: ${dir}/not-executable is not a directory`,
  ]);
});

test('commands that do not resolve are named: a shell command by its first word, a program by its path', () => {
  const text = base(frontends)
    .replace('reload: kill -USR2 1', 'reload: LANG=C systemctl-not-here reload haproxy')
    .replace('check: haproxy -c -q -f {{file}}', `check: ${dir}/not-executable {{file}}`);
  const vip = `  vip: { address: 10.0.0.100/24, interface: eth0, cluster: app, ip_command: /nonexistent/ip, announce: { sender: arping }, arping: { command: ${fakeIp} } }`;
  assert.deepEqual(problems(`${text}\n${vip}`), [
    `router.yml: targets.haproxy.check: ${dir}/not-executable is not an executable file`,
    'router.yml: targets.haproxy.reload: command "systemctl-not-here" is not on PATH',
    'router.yml: targets.vip.ip_command: /nonexistent/ip is not an executable file',
  ]);
});

test('several mistakes of every kind are reported together (exit code 2)', () => {
  const text = withDcs(`api: { listen: "127.0.0.1:70000" }
targets:
  haproxy:
    output: /nonexistent-dir/haproxy.cfg
    reload: no-such-reload-command
    frontends: { app: { primary: "127.0.0.1:5000", replicas: "127.0.0.1:5000" } }`);
  // Schema mistakes (listeners included) come first; secrets and the host are checked on a config that
  // parsed, and all of their mistakes are reported together.
  assert.deepEqual(problems(text), [
    'router.yml: api.listen: port 70000 is out of range (0–65535)',
    'router.yml: targets.haproxy.frontends.app.replicas: 127.0.0.1:5000 is the same address as targets.haproxy.frontends.app.primary (127.0.0.1:5000): two listeners cannot share an address',
  ]);
  assert.deepEqual(
    problems(
      text
        .replace('127.0.0.1:70000', '127.0.0.1:8009')
        .replace('replicas: "127.0.0.1:5000"', 'replicas: "127.0.0.1:5001"')
        .replace('hosts:', 'password_env: SWITCHYARD_UNSET_TEST_VAR, username: u, hosts:'),
    ),
    [
      'router.yml: dcs.password_env: environment variable SWITCHYARD_UNSET_TEST_VAR is not set',
      'router.yml: targets.haproxy.output: directory /nonexistent-dir does not exist',
      'router.yml: targets.haproxy.reload: command "no-such-reload-command" is not on PATH',
    ],
  );
});

test("secrets, owners and templates inside a target's section are checked at load", () => {
  const text = withDcs(`targets:
  pgbouncer:
    output: out/databases.ini
    template: no-such-template.hbs
    owner: no-such-user
    admin: { password_file: no-such-password }
    databases: { app: { cluster: app, user: app, password_env: SWITCHYARD_UNSET_TEST_VAR } }`);
  assert.deepEqual(
    problems(text),
    [
      `router.yml: targets.pgbouncer.template: ${dir}/no-such-template.hbs does not exist`,
      `targets.pgbouncer.databases.app.password_env: environment variable SWITCHYARD_UNSET_TEST_VAR is not set`,
      `targets.pgbouncer.admin.password_file: cannot read ${dir}/no-such-password (ENOENT)`,
      'targets.pgbouncer.owner: no user no-such-user in /etc/passwd',
    ].map((p) => (p.startsWith('router.yml') ? p : `router.yml: ${p}`)),
  );
});

test('a command whose first word the shell builds (a variable, a subshell) is left to run time', () => {
  const text = base(frontends)
    .replace('reload: kill -USR2 1', 'reload: "$HAPROXY_RELOAD"')
    .replace('check: haproxy -c -q -f {{file}}', 'check: "(cd /tmp && haproxy -c -q -f {{file}})"');
  assert.equal(loadRouterConfig(write(text)).targets.haproxy?.reload, '$HAPROXY_RELOAD');
});

test('the first word of a shell command skips assignments and quotes; builtins need no program', () => {
  assert.equal(firstWord('LANG=C FOO=bar "systemctl" reload x'), 'systemctl');
  assert.equal(firstWord('  kill -USR2 $(cat /run/haproxy.pid)'), 'kill');
  assert.equal(unresolvable('sh'), null);
  assert.equal(unresolvable('sh', '/nonexistent'), 'command "sh" is not on PATH');
  assert.equal(unresolvable('/bin/sh'), null);
});

test("a target's own rules are checked at load too: template syntax, a pgcat admin password", () => {
  writeFileSync(join(dir, 'broken.cfg.hbs'), 'global\n{{#each clusters}}\n');
  const haproxy = problems(
    base(frontends).replace(
      '    output: out/haproxy.cfg',
      '    output: out/haproxy.cfg\n    template: broken.cfg.hbs',
    ),
  );
  assert.equal(haproxy.length, 1, haproxy.join('\n'));
  assert.match(haproxy[0] ?? '', /^router\.yml: targets\.haproxy\.template: .*broken\.cfg\.hbs/);
  const pgcat = withDcs(`targets:
  pgcat:
    output: out/pgcat.toml
    general: { admin: { username: admin } }
    pools: { app: { cluster: app, users: [{ username: app, password: x }] } }`);
  assert.deepEqual(problems(pgcat), [
    'router.yml: targets.pgcat.general.admin: pgcat requires an admin password',
  ]);
});

test('a VIP without its cluster is rejected when the router follows several clusters or every one', () => {
  const vip = (clusters: string) =>
    withDcs(
      `targets:
  vip: { address: 10.0.0.100/24, interface: eth0, ip_command: ${fakeIp}, announce: { sender: arping }, arping: { command: ${fakeIp} } }
`,
      clusters,
    );
  assert.deepEqual(problems(vip('["*"]')), [
    'router.yml: targets.vip.cluster: required unless the router follows exactly one named cluster (clusters: *)',
  ]);
  assert.deepEqual(problems(vip('[app, billing]')), [
    'router.yml: targets.vip.cluster: required unless the router follows exactly one named cluster (clusters: app, billing)',
  ]);
  assert.equal(loadRouterConfig(write(vip('[app]'))).targets.vip?.interface, 'eth0');
});

test('a config file that cannot be read is a config error with exit code 2', () => {
  assert.throws(
    () => loadRouterConfig(join(dir, 'no-such.yml')),
    (err: ConfigError) =>
      err.exitCode === 2 && err.message === `cannot read config ${join(dir, 'no-such.yml')}: ENOENT`,
  );
});
