// `switchyard check` and `switchyard --version`, run as a user runs them: the real CLI in a child process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { packageVersion } from '../../src/paths.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'switchyard-cli-check-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `switchyard <args>` from source, bounded to 30 s. */
function switchyard(args: string[], options: { uid?: number } = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const outDir = join(dir, 'haproxy');
mkdirSync(outDir);
const config = (etcd: string, frontends: string) => `
dcs: { type: etcd3, hosts: ["${etcd}"] }
clusters: [app]
api: { listen: "127.0.0.1:8009" }
targets:
  haproxy:
    output: haproxy/haproxy.cfg
    reload: kill -USR2 1
    frontends: { app: ${frontends} }
`;

test('check of a valid config prints one line, exits 0 and never connects to etcd', async (t) => {
  // A listening "etcd" that counts connections: check must make none.
  let connections = 0;
  const etcd = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => etcd.listen(0, '127.0.0.1', resolve));
  t.after(() => etcd.close());
  const port = (etcd.address() as AddressInfo).port;
  const file = join(dir, 'valid.yml');
  writeFileSync(
    file,
    config(`127.0.0.1:${port}`, '{ primary: "127.0.0.1:5000", replicas: "127.0.0.1:5001" }'),
  );

  const run = await switchyard(['check', '--config', file]);
  assert.equal(run.stderr, '');
  assert.equal(
    run.stdout,
    `${file}: valid (clusters: app; targets: haproxy; 3 listeners; 1 file and 2 commands checked on this host)\n`,
  );
  assert.equal(run.code, 0);
  assert.equal(connections, 0, 'check connected to etcd');
  assert.deepEqual(readdirSync(outDir), [], 'check wrote a file');
  assert.ok(run.ms < 15_000, `check took ${run.ms} ms`);
});

test('check with etcd on a closed port exits 0 at once (it does not try to connect)', async () => {
  const file = join(dir, 'closed.yml');
  writeFileSync(file, config('127.0.0.1:1', '{ primary: "127.0.0.1:5000" }'));
  const run = await switchyard(['check', '--config', file, '--no-host']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(
    run.stdout,
    `${file}: valid (clusters: app; targets: haproxy; 2 listeners; host checks skipped (--no-host))\n`,
  );
  assert.ok(run.ms < 15_000, `check took ${run.ms} ms`);
});

test('check prints every problem as file: key.path: reason and exits 2', async () => {
  const file = join(dir, 'invalid.yml');
  writeFileSync(
    file,
    config('127.0.0.1:1', '{ primary: "127.0.0.1:99999", replicas: "127.0.0.1:8009" }').replace(
      'clusters: [app]',
      'clusters: [app]\nlog: { level: loud }',
    ),
  );
  const run = await switchyard(['check', '--config', file]);
  assert.equal(run.stdout, '');
  assert.equal(
    run.stderr,
    [
      `switchyard: ${file} has 3 problems`,
      `  - ${file}: log.level: Invalid enum value. Expected 'trace' | 'debug' | 'info' | 'warn' | 'error', received 'loud'`,
      `  - ${file}: targets.haproxy.frontends.app.primary: port 99999 is out of range (1–65535)`,
      `  - ${file}: targets.haproxy.frontends.app.replicas: 127.0.0.1:8009 is the same address as api.listen (127.0.0.1:8009): two listeners cannot share an address`,
      '',
    ].join('\n'),
  );
  assert.equal(run.code, 2);
});

test('check names an output directory the router user cannot write, and a command not on PATH', async () => {
  const locked = join(dir, 'locked');
  mkdirSync(locked, { mode: 0o755 });
  chmodSync(dir, 0o755);
  const file = join(dir, 'locked.yml');
  writeFileSync(
    file,
    config('127.0.0.1:1', '{ primary: "127.0.0.1:5000" }')
      .replace('output: haproxy/haproxy.cfg', 'output: locked/haproxy.cfg')
      .replace('reload: kill -USR2 1', 'reload: systemctl-missing reload haproxy'),
  );
  chmodSync(file, 0o644);
  // As root every directory is writable: run the check as nobody, as a router under its own user would.
  const run = await switchyard(['check', '--config', file], {
    uid: process.getuid?.() === 0 ? 65534 : undefined,
  });
  assert.equal(
    run.stderr,
    [
      `switchyard: ${file} has 2 problems`,
      `  - ${file}: targets.haproxy.output: directory ${locked} is not writable by this user (uid 65534)`,
      `  - ${file}: targets.haproxy.reload: command "systemctl-missing" is not on PATH`,
      '',
    ].join('\n'),
  );
  assert.equal(run.code, 2);
});

test('check --help teaches what is checked, the output and the exit codes', async () => {
  const run = await switchyard(['check', '--help']);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /Usage: switchyard check \[options\]/);
  assert.match(run.stdout, /--no-host/);
  assert.match(run.stdout, /It connects to nothing, starts no target and writes nothing/);
  assert.match(run.stdout, /Exit codes: 0 valid, 2 invalid \(or unreadable\) config\./);
});

test('--version prints the version in package.json', async () => {
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
  const run = await switchyard(['--version']);
  assert.deepEqual(run, { ...run, code: 0, stdout: `${version}\n`, stderr: '' });
});

test('the version is found from dist/ as from src/: the package root holds package.json and templates/', () => {
  const pkg = join(dir, 'pkg');
  mkdirSync(join(pkg, 'dist', 'src', 'cli'), { recursive: true });
  mkdirSync(join(pkg, 'templates'));
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'switchyard', version: '9.8.7' }));
  // dist/package.json does not exist in a build; a stray one without templates/ must not be taken.
  writeFileSync(join(pkg, 'dist', 'package.json'), JSON.stringify({ version: 'wrong' }));
  assert.equal(packageVersion(pathToFileURL(join(pkg, 'dist', 'src', 'cli', 'version.js')).href), '9.8.7');
});

test('route refuses a config with a port out of range or two listeners on one address, before it starts', async () => {
  const cases: Array<[string, string, string]> = [
    [
      'port',
      '{ primary: "127.0.0.1:99999" }',
      'targets.haproxy.frontends.app.primary: port 99999 is out of range (1–65535)',
    ],
    [
      'same-address',
      '{ primary: "127.0.0.1:5000", replicas: "127.0.0.1:5000" }',
      'targets.haproxy.frontends.app.replicas: 127.0.0.1:5000 is the same address as targets.haproxy.frontends.app.primary (127.0.0.1:5000): two listeners cannot share an address',
    ],
  ];
  for (const [name, frontend, problem] of cases) {
    const file = join(dir, `route-${name}.yml`);
    writeFileSync(file, config('127.0.0.1:1', frontend));
    const run = await switchyard(['route', '--config', file]);
    assert.equal(run.stderr, `switchyard: ${file} has 1 problem\n  - ${file}: ${problem}\n`);
    assert.equal(run.code, 2);
    assert.deepEqual(readdirSync(outDir), [], 'route wrote a file');
  }
});
