import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DOC_PATH, generateConfigDocs } from '../../scripts/gen-config-docs.js';

test('docs/configuration.md is what scripts/gen-config-docs.ts generates from the schemas', () => {
  const expected = generateConfigDocs();
  const current = readFileSync(DOC_PATH, 'utf8');
  assert.ok(
    current === expected,
    'docs/configuration.md is stale: run `node --import tsx scripts/gen-config-docs.ts` and commit it',
  );
});

test('the reference names every key of every target with a type', () => {
  const text = generateConfigDocs();
  for (const key of [
    'dcs.hosts',
    'routing.on_dcs_loss',
    'targets.haproxy.runtime_api',
    'targets.pgbouncer.databases.<name>.read_only.name',
    'targets.pgcat.pools.<name>.users[].username',
    'targets.vip.duplicate_probe.on_conflict',
  ]) {
    assert.match(text, new RegExp('\\| `' + key.replace(/[.*<>[\]]/g, '\\$&') + '` \\| \\w'), key);
  }
  assert.match(text, /\| `routing\.on_dcs_loss` \| string \| `keep` \| `keep`, `fail_closed` \|/);
});
