import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { COMMANDS, commandsFor } from '../../src/cli/commands.js';

// Memory and startup of the long-running router (issue 14): `switchyard route` reads only the router's
// module graph, and the router's graph leaves out what a given config does not use until it is used.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** npm packages (by name) a fresh process has loaded after importing `modules`, in load order. */
function packagesLoadedBy(modules: string[]): Set<string> {
  const code = `
import { createRequire } from 'node:module';
${modules.map((m) => `await import(${JSON.stringify(m)});`).join('\n')}
const cache = createRequire(import.meta.url).cache;
const names = new Set();
for (const path of Object.keys(cache)) {
  const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(path.slice(path.lastIndexOf('node_modules/')));
  if (m) names.add(m[1]);
}
process.stdout.write(JSON.stringify([...names]));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return new Set(JSON.parse(r.stdout) as string[]);
}

test('switchyard route registers only the route command; help, --version and typos register all of them', async () => {
  assert.equal((await commandsFor(['node', 'switchyard', 'route', '--config', 'x.yml'])).length, 1);
  const all = Object.keys(COMMANDS).length;
  for (const argv of [[], ['--help'], ['--version'], ['help', 'route'], ['nosuch'], ['constructor']])
    assert.equal((await commandsFor(['node', 'switchyard', ...argv])).length, all, argv.join(' '));
});

test('loading the router (route command, start, every target) loads no etcd3/gRPC, pg or handlebars until a config needs them', () => {
  const loaded = packagesLoadedBy(['./src/cli/route.ts', './src/router/start.ts', './src/dcs/source.ts']);
  for (const lazy of ['etcd3', '@grpc/grpc-js', 'pg', 'handlebars', 'cockatiel'])
    assert.equal(loaded.has(lazy), false, `${lazy} is loaded at import: ${[...loaded].join(', ')}`);
  assert.ok(loaded.has('prom-client'), 'the probe sees the CommonJS packages the router does load');
});
