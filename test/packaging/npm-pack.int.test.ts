// `npm pack` makes a tarball that `npm i -g` installs and runs with no TypeScript at install time and no
// registry access: prebuilt dist/, the templates, and the production dependencies bundled.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync('/tmp/sy-npm-pack-');
after(() => rmSync(dir, { recursive: true, force: true }));

const run = (cmd: string, args: string[], cwd = root) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] });

test('npm pack builds dist/ and the tarball installs globally offline and runs without TypeScript', () => {
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dir])) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  const files = packed[0]!.files.map((f) => f.path);
  assert.ok(files.includes('dist/src/cli/main.js'), 'prebuilt CLI');
  assert.ok(files.includes('dist/agent/main.js'), 'prebuilt agent');
  assert.ok(files.includes('templates/haproxy.cfg.hbs'), 'default templates');
  assert.ok(files.includes('LICENSE'));
  assert.deepEqual(
    files.filter((f) => !f.startsWith('node_modules/') && f.endsWith('.ts') && !f.endsWith('.d.ts')),
    [],
    'no TypeScript sources',
  );
  const prefix = join(dir, 'global');
  // --offline: the dependencies are bundled in the tarball; the test sends nothing anywhere.
  run('npm', [
    'install',
    '--global',
    '--offline',
    '--no-audit',
    '--no-fund',
    '--prefix',
    prefix,
    join(dir, packed[0]!.filename),
  ]);
  assert.doesNotThrow(() =>
    run('test', ['!', '-e', join(prefix, 'lib/node_modules/switchyard/node_modules/typescript')]),
  );
  const help = run(join(prefix, 'bin/switchyard'), ['--help'], dir);
  assert.match(help, /Usage: switchyard/);
  assert.match(help, /route/);
});
