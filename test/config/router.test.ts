import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRouterConfig } from '../../src/config/router.js';
import type { ConfigError } from '../../src/errors.js';

const valid = `
dcs:
  type: etcd3
  hosts: ["127.0.0.1:2379"]
namespace: /service
clusters: ["app-cluster"]
api:
  listen: "127.0.0.1:8009"
targets:
  haproxy:
    output: /etc/haproxy/haproxy.cfg
    check: "haproxy -c -f {{file}}"
    reload: "systemctl reload haproxy"
    frontends:
      app-cluster: { primary: "127.0.0.1:5000", replicas: "127.0.0.1:5001" }
`;

function problems(text: string): string[] {
  try {
    parseRouterConfig(text, '/etc/switchyard/router.yml');
  } catch (err) {
    return (err as ConfigError).problems as string[];
  }
  assert.fail('expected the config to be rejected');
}

test('the README example config is valid and gets defaults', () => {
  const c = parseRouterConfig(valid, '/etc/switchyard/router.yml');
  assert.deepEqual(c.dcs.hosts, ['127.0.0.1:2379']);
  assert.deepEqual(c.api.listen, { host: '127.0.0.1', port: 8009 });
  assert.equal(c.routing.maxReplicaLagBytes, 1024 * 1024);
  assert.equal(c.routing.on_dcs_loss, 'keep');
  assert.equal(c.dir, '/etc/switchyard');
});

test('unknown keys are errors naming the file and key path', () => {
  assert.deepEqual(problems(valid.replace('    reload:', '    relaod: x\n    reload:')), [
    "/etc/switchyard/router.yml: targets.haproxy: unknown key 'relaod'",
  ]);
});

test('wrong types and missing keys name the key path', () => {
  const p = problems(
    valid
      .replace('type: etcd3', 'type: consul')
      .replace(
        '      app-cluster: { primary: "127.0.0.1:5000", replicas: "127.0.0.1:5001" }',
        '      app-cluster: { primary: 5000 }',
      ),
  );
  assert.ok(
    p.includes(
      "/etc/switchyard/router.yml: dcs.type: Invalid enum value. Expected 'etcd3' | 'etcd', received 'consul'",
    ),
    p.join('\n'),
  );
  assert.ok(
    p.some((l) => l.startsWith('/etc/switchyard/router.yml: targets.haproxy.frontends.app-cluster.primary:')),
    p.join('\n'),
  );
});

test('a config without targets is rejected with the list of known targets', () => {
  const p = problems(valid.slice(0, valid.indexOf('targets:')) + 'targets: {}\n');
  assert.match(p[0] ?? '', /targets: at least one target is required \(haproxy/);
});

test('YAML syntax errors are reported with the file', () => {
  const p = problems('dcs: [unclosed');
  assert.match(p[0] ?? '', /^\/etc\/switchyard\/router\.yml: /);
});

test('a password_env that is not set is an error naming the key', () => {
  assert.throws(
    () =>
      parseRouterConfig(
        valid.replace('  hosts:', '  username: root\n  password_env: SWITCHYARD_TEST_UNSET_VAR\n  hosts:'),
        '/r.yml',
      ),
    (err: ConfigError) =>
      /dcs\.password_env: environment variable SWITCHYARD_TEST_UNSET_VAR is not set/.test(
        err.problems.join(),
      ),
  );
});

test('"*" cannot be combined with cluster names', () => {
  assert.match(
    problems(valid.replace('clusters: ["app-cluster"]', 'clusters: ["*", "b"]')).join(),
    /clusters: "\*" follows every scope/,
  );
});

test('haproxy checks.rise below 2 is rejected with the reason (a check could raise a leader before promotion)', () => {
  assert.deepEqual(problems(valid.replace('    reload:', '    checks: { rise: 1 }\n    reload:')), [
    '/etc/switchyard/router.yml: targets.haproxy.checks.rise: must be 2 or more: with rise 1 a check can route writes to a not yet promoted leader',
  ]);
});
