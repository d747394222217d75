// The Debian package, as a new operator uses it: built by packaging/build-deb.sh, installed with dpkg
// into a clean Debian 12 root (debootstrap minbase: no Node.js, no Switchyard user), the router started
// the way its unit starts it (ExecStart as User=), then `switchyard status` from inside that root.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { freePort, startEtcd, waitFor, type EtcdCluster } from '../harness/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cache = process.env['SWITCHYARD_CACHE'] ?? '/var/cache/switchyard';
let etcd: EtcdCluster;
let deb: string;
let clean: string;
let machine: string;
const mounts: string[] = [];

function sh(cmd: string, args: string[], timeoutMs = 600_000): string {
  return execFileSync(cmd, args, {
    cwd: root,
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
function inRoot(args: string[]): string {
  return sh('chroot', [machine, ...args], 60_000);
}

before(async () => {
  clean = sh('bash', ['scripts/debian-root.sh', 'bookworm', `${cache}/bookworm-clean`]).trim();
  deb = process.env['SWITCHYARD_DEB'] ?? sh('bash', ['packaging/build-deb.sh']).trim().split('\n').pop()!;
  machine = mkdtempSync('/tmp/sy-deb-root-');
  chmodSync(machine, 0o755); // the root's own / (mkdtemp makes 0700: no other user could enter it)
  cpSync(clean, machine, { recursive: true, verbatimSymlinks: true });
  sh('mount', ['-t', 'proc', 'proc', `${machine}/proc`]);
  mounts.push(`${machine}/proc`);
  etcd = await startEtcd();
});

after(async () => {
  await etcd?.stop();
  for (const m of mounts.reverse()) sh('umount', [m]);
  if (machine) rmSync(machine, { recursive: true, force: true });
});

test('dpkg installs the package on a clean Debian 12: a switchyard system user, /usr/bin/switchyard on its bundled Node, config and units', () => {
  assert.throws(() => inRoot(['getent', 'passwd', 'switchyard']), 'no switchyard user before');
  cpSync(deb, `${machine}/tmp/switchyard.deb`);
  inRoot(['dpkg', '-i', '/tmp/switchyard.deb']);
  const user = inRoot(['getent', 'passwd', 'switchyard']);
  assert.match(user, /^switchyard:x:\d+:\d+:Switchyard router:\/var\/lib\/switchyard:\/usr\/sbin\/nologin$/m);
  assert.match(inRoot(['/usr/bin/switchyard', '--help']), /Usage: switchyard/);
  assert.match(inRoot(['stat', '-c', '%U:%G %a', '/etc/switchyard/router.yml']), /^root:switchyard 640$/m);
  assert.match(inRoot(['stat', '-c', '%U:%G %a', '/var/lib/switchyard']), /^switchyard:switchyard 750$/m);
  for (const unit of ['switchyard-router', 'switchyard-vip', 'switchyard-agent'])
    assert.match(
      readFileSync(`${machine}/lib/systemd/system/${unit}.service`, 'utf8'),
      /^ExecStart=\/usr\/bin\/switchyard /m,
    );
});

test('the router unit starts as the switchyard user and `switchyard status` shows the leader it follows', async () => {
  const unit = readFileSync(`${machine}/lib/systemd/system/switchyard-router.service`, 'utf8');
  const execStart = /^ExecStart=(.+)$/m.exec(unit)?.[1]?.split(' ');
  const user = /^User=(\S+)$/m.exec(unit)?.[1];
  assert.ok(execStart && user, 'the unit names ExecStart and User');
  assert.equal(user, 'switchyard');
  const api = await freePort();
  const etcdHost = etcd.endpoints[0]!;
  writeFileSync(
    `${machine}/etc/switchyard/router.yml`,
    `dcs: { type: etcd3, hosts: ["${etcdHost}"] }
namespace: /service
clusters: [pkg]
api: { listen: "127.0.0.1:${api}" }
targets:
  haproxy:
    output: /var/lib/switchyard/haproxy.cfg
    check: null
    frontends:
      pkg: { primary: "127.0.0.1:${await freePort()}" }
`,
  );
  const member = (port: number) =>
    JSON.stringify({
      conn_url: `postgres://127.0.0.1:${port}/postgres`,
      api_url: `http://127.0.0.1:${port + 1000}/patroni`,
      state: 'running',
      role: 'master',
      version: '3.0.2',
    });
  await etcd.put('/service/pkg/members/pg1', member(25432));
  await etcd.put('/service/pkg/leader', 'pg1');
  let router: ChildProcess | undefined;
  let log = '';
  try {
    router = spawn('chroot', [`--userspec=${user}:${user}`, machine, ...execStart], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    router.stdout!.on('data', (c: Buffer) => (log += c.toString()));
    router.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    const status = await waitFor(
      () => {
        try {
          const out = inRoot(['/usr/bin/switchyard', 'status', '--config', '/etc/switchyard/router.yml']);
          return /\| pkg\s+\| pg1\s+\|/.test(out) ? out : null;
        } catch {
          return null;
        }
      },
      {
        what: 'switchyard status shows pg1 leading pkg',
        timeoutMs: 30_000,
        diagnose: () => log.slice(-2000),
      },
    );
    assert.match(status, /Router: healthy/);
    assert.match(
      readFileSync(`${machine}/var/lib/switchyard/haproxy.cfg`, 'utf8'),
      /server pg1 127\.0\.0\.1:25432/,
    );
    assert.equal(inRoot(['stat', '-c', '%U', '/var/lib/switchyard/haproxy.cfg']).trim(), 'switchyard');
  } finally {
    if (router && router.exitCode === null) {
      router.kill('SIGTERM');
      await waitFor(() => router!.exitCode !== null || router!.signalCode !== null, {
        what: 'router exits',
        timeoutMs: 15_000,
      });
    }
  }
});
