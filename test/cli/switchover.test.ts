import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSwitchover } from '../../src/cli/switchover.js';
import { main } from '../../src/cli/main.js';

let dir: string;
const config = (targets: string) => {
  const path = join(dir, `router-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(path, `dcs:\n  type: etcd3\n  hosts: [127.0.0.1:1]\nclusters: [demo]\ntargets:\n${targets}`);
  return path;
};
const pgbouncer = `  pgbouncer:\n    output: ${'routes.ini'}\n    databases:\n      app: { cluster: demo }\n`;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sy-switchover-unit-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('refuses (exit 2) when router.yml has no PgBouncer target', async () => {
  const path = config(
    `  pgcat:\n    output: p.toml\n    general: { admin: { username: a, password: b } }\n    pools:\n      app: { cluster: demo, users: [{ username: u }] }\n`,
  );
  await assert.rejects(runSwitchover({ config: path, cluster: 'demo', timeoutSeconds: 5 }), {
    code: 'SY_ERR_SWITCHOVER',
    exitCode: 2,
    message: `${path} has no targets.pgbouncer: there is nothing to pause (use patronictl switchover)`,
  });
});

test('refuses (exit 2) a cluster PgBouncer does not route', async () => {
  const path = config(pgbouncer);
  await assert.rejects(runSwitchover({ config: path, cluster: 'other', timeoutSeconds: 5 }), {
    exitCode: 2,
    message: `targets.pgbouncer in ${path} routes no database of cluster other`,
  });
});

test('refuses (exit 2) a --scheduled time without a timezone', async () => {
  const path = config(pgbouncer);
  await assert.rejects(
    runSwitchover({ config: path, cluster: 'demo', timeoutSeconds: 5, scheduled: '2026-11-22T18:00:00' }),
    {
      exitCode: 2,
      message: /--scheduled "2026-11-22T18:00:00" is not an ISO 8601 time with a timezone/,
    },
  );
});

test('the command rejects a --timeout that is not a number of seconds', async () => {
  const path = config(pgbouncer);
  const write = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = ((chunk: string) => ((text += chunk), true)) as typeof process.stderr.write;
  try {
    const code = await main([
      'node',
      'switchyard',
      'switchover',
      '--config',
      path,
      '--cluster',
      'demo',
      '--timeout',
      'soon',
    ]);
    assert.equal(code, 2);
  } finally {
    process.stderr.write = write;
  }
  assert.match(text, /Expected --timeout to be a number of seconds in \(0, 600\], got "soon"/);
});

test('a repoint whose verification found the old entry (a router rewrote the file) is tried again, still paused; other errors propagate', async () => {
  const { repoint } = await import('../../src/cli/switchover/repoint.js');
  const { SwitchyardError } = await import('../../src/errors.js');
  const said: string[] = [];
  const steps = { say: (t: string) => void said.push(t) };
  const snapshot = { generation: 7, views: new Map(), isDcsReachable: true } as never;
  let calls = 0;
  const flaky = {
    apply: async () => {
      calls++;
      if (calls === 1)
        throw new SwitchyardError(
          'SY_ERR_RELOAD_FAILED',
          'PgBouncer did not apply routes.ini: app is 127.0.0.1:1/postgres',
        );
      return { generation: 7, summary: 'repointed app', didChange: true };
    },
  };
  assert.equal(await repoint(flaky.apply, snapshot, steps), null);
  assert.match(
    said[0] ?? '',
    /^repoint not verified yet, trying again \(still paused\): .*app is 127\.0\.0\.1:1/,
  );
  assert.deepEqual(await repoint(flaky.apply, snapshot, steps), {
    generation: 7,
    summary: 'repointed app',
    didChange: true,
  });
  const broken = {
    apply: async () => {
      throw new SwitchyardError('SY_ERR_ADMIN_CONSOLE', 'console down');
    },
  };
  await assert.rejects(repoint(broken.apply, snapshot, steps), { code: 'SY_ERR_ADMIN_CONSOLE' });
});

test('the paused databases are routed ahead only to a member the view knows, presumed writable, never to an invented one', async () => {
  const { presumeWritable } = await import('../../src/cli/switchover/repoint.js');
  const server = (name: string, port: number) => ({ name, host: '10.0.0.1', port, api: null });
  const view = {
    scope: 'demo',
    generation: 3,
    leader: {
      ...server('pg1', 5432),
      isWritable: true,
      reason: null,
      leaderRevision: 41,
      isLost: false,
      lostReason: null,
    },
    replicas: [server('pg2', 5433)],
    members: [server('pg1', 5432), server('pg2', 5433), server('pg3', 5434)],
    ttl: 10,
    isFailsafeMode: false,
  };
  const snapshot = {
    generation: 3,
    views: new Map([['demo', view]]),
    dcs: { isConnected: true, lastContactAt: 0 },
  };
  const ahead = presumeWritable(snapshot, 'demo', 'pg3');
  assert.deepEqual(ahead?.views.get('demo')?.leader, {
    ...server('pg3', 5434),
    isWritable: true,
    reason: null,
    leaderRevision: 41,
    isLost: false,
    lostReason: null,
  });
  assert.equal(snapshot.views.get('demo')?.leader.name, 'pg1', 'the snapshot itself is unchanged');
  assert.equal(presumeWritable(snapshot, 'demo', 'pg9'), null, 'not a member');
  assert.equal(presumeWritable(snapshot, 'other', 'pg3'), null, 'not a routed cluster');
  const holderNotYetWritable = { ...view, leader: { ...view.leader, isWritable: false, reason: 'probing' } };
  const held = { ...snapshot, views: new Map([['demo', holderNotYetWritable]]) };
  assert.equal(presumeWritable(held, 'demo')?.views.get('demo')?.leader?.isWritable, true, 'the key holder');
});
