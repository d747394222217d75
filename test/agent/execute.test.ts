import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import { parseAgentConfig } from '../../agent/config/load.js';
import { Executor } from '../../agent/execute.js';
import { RewindSourceNotReady } from '../../agent/postgres/rewind-source.js';
import type { Observation } from '../../agent/observe.js';
import { cluster, stoppedPg } from './ha/fixtures.js';

const yml = (extra: string) =>
  `scope: s\nname: pg2\nrestapi: {listen: 127.0.0.1:8008, connect_address: 127.0.0.1:8008, allow_unauthenticated_writes: true}\netcd3: {hosts: 127.0.0.1:2379}\npostgresql: {listen: 127.0.0.1:5432, connect_address: 127.0.0.1:5432, data_dir: /var/lib/pg/data, authentication: {superuser: {username: a}, replication: {username: b}}${extra}}\n`;

/** An Executor over a fake PgControl that counts calls; `rewind` and `start` fail as told. */
function rig(o: {
  extra?: string;
  rewindFails?: boolean | Error;
  startFails?: boolean;
  /** pg_controldata's "Database cluster state" (a standby shut down cleanly unless told). */
  state?: string;
  standbySignal?: boolean;
  backupLabel?: boolean;
}) {
  const { config } = parseAgentConfig(yml(o.extra ?? ''), 'node.yml');
  const calls = { wipe: 0, rewind: 0, start: 0 };
  const tasks: Promise<void>[] = [];
  const control = {
    stop: async () => undefined,
    rewind: async () => {
      calls.rewind++;
      if (o.rewindFails instanceof Error) throw o.rewindFails;
      if (o.rewindFails) throw new Error('pg_rewind: could not find common ancestor');
    },
    start: async () => {
      calls.start++;
      if (o.startFails) throw new Error('requested timeline 3 is not a child of this server history');
    },
    wipe: () => calls.wipe++,
    basebackup: async () => undefined,
    controlData: async () => ({ state: o.state ?? 'shut down in recovery' }),
    isStandbyConfigured: () => o.standbySignal ?? true,
    isUnstartedBackup: () => o.backupLabel ?? false,
  };
  const ex = new Executor({
    config,
    control: control as never,
    query: {} as never,
    writer: {} as never,
    lease: () => ({ id: '7' }) as never,
    log: silentLogger(),
    runTask: (_n, _s, fn) => void tasks.push(fn().catch(() => undefined)),
    onLeadership: () => undefined,
  });
  const ctx = {
    cluster: cluster({ leader: 'pg1' }),
    obs: { local: stoppedPg, status: null } as Observation,
  };
  const step = async (rewind: boolean) => {
    const r = await ex.apply({ kind: 'start_replica', leader: 'pg1', rewind }, ctx);
    await Promise.all(tasks.splice(0));
    return r;
  };
  return { ex, calls, step };
}

test('a failed pg_rewind leaves the data directory and the node stopped by default, with the reason', async () => {
  const { ex, calls, step } = rig({ rewindFails: true });
  await step(true);
  assert.equal(calls.wipe, 0);
  assert.match(ex.stuck ?? '', /^pg_rewind from pg1 failed .*remove_data_directory_on_rewind_failure/);
  const next = await step(true);
  assert.deepEqual(next, { ok: false, reason: ex.stuck });
  assert.equal(calls.rewind, 1, 'a stuck node does not retry on its own');
});

test('a failed pg_rewind wipes the data directory for a re-clone when remove_data_directory_on_rewind_failure is set', async () => {
  const { ex, calls, step } = rig({
    rewindFails: true,
    extra: ', remove_data_directory_on_rewind_failure: true',
  });
  await step(true);
  assert.equal(calls.wipe, 1);
  assert.equal(ex.stuck, null);
});

test('three failed starts as a replica leave the node stopped by default', async () => {
  const { ex, calls, step } = rig({ startFails: true });
  for (let i = 0; i < 3; i++) await step(false);
  assert.equal(calls.start, 3);
  assert.equal(calls.wipe, 0);
  assert.match(
    ex.stuck ?? '',
    /failed to start as a replica 3 times .*remove_data_directory_on_diverged_timelines/,
  );
});

test('three failed starts wipe for a re-clone when remove_data_directory_on_diverged_timelines is set', async () => {
  const { calls, step } = rig({
    startFails: true,
    extra: ', remove_data_directory_on_diverged_timelines: true',
  });
  for (let i = 0; i < 3; i++) await step(false);
  assert.equal(calls.wipe, 1);
});

test('a crashed former primary rejoins through pg_rewind even when the decision was a plain start', async () => {
  // Its control file lags its WAL and /history can lag the promotion: started as a standby it could stream
  // over the WAL pg_rewind needs. A failed first start leaves standby.signal behind; still a crashed primary.
  for (const standbySignal of [false, true]) {
    const { calls, step } = rig({ state: 'in production', standbySignal });
    await step(false);
    assert.deepEqual([calls.rewind, calls.start], [1, 1]);
  }
});

test('a former primary shut down cleanly also goes through pg_rewind; a standby does not', async () => {
  const primary = rig({ state: 'shut down', standbySignal: false });
  await primary.step(false);
  assert.equal(primary.calls.rewind, 1);
  const standby = rig({ state: 'shut down in recovery' });
  await standby.step(false);
  assert.equal(standby.calls.rewind, 0);
});

test('a fresh clone (pg_control copied from the running primary, backup_label present) starts without pg_rewind', async () => {
  const { calls, step } = rig({ state: 'in production', standbySignal: false, backupLabel: true });
  await step(false);
  assert.deepEqual([calls.rewind, calls.start], [0, 1]);
});

test('a fresh clone is not rewound even after failed starts of the directory it replaced (pg_rewind would make it diverge)', async () => {
  // A reinitialize raced a cycle: the cycle started PostgreSQL in the emptied directory (a failed start),
  // then the clone came. Rewinding that clone ran crash recovery in single-user mode, which ended its
  // recovery with WAL of its own, ahead of the leader's on the same timeline: it never streamed again.
  const { calls, step } = rig({ state: 'in production', standbySignal: true, backupLabel: true });
  await step(true);
  assert.deepEqual([calls.rewind, calls.start], [0, 1]);
});

test('a clone resets the count of failed starts', async () => {
  const { ex, calls, step } = rig({ startFails: true });
  await step(false);
  await step(false);
  await ex.apply(
    { kind: 'clone', from: 'pg1' },
    {
      cluster: cluster({ leader: 'pg1' }),
      obs: { local: stoppedPg, status: null } as Observation,
    },
  );
  await step(false);
  assert.equal(calls.start, 3);
  assert.equal(ex.stuck, null, 'two failures before the clone and one after are not three in a row');
  assert.equal(calls.rewind, 1, 'only the second start (after one failure) went through pg_rewind');
});

test('a leader not ready to be the rewind source (no checkpoint since its promotion) is retried, the node is not stuck', async () => {
  const notReady = new RewindSourceNotReady(
    { host: '127.0.0.1', port: 5432 },
    'it has not run a checkpoint since its promotion',
  );
  const { ex, calls, step } = rig({ rewindFails: notReady });
  await step(true);
  assert.equal(ex.stuck, null);
  assert.deepEqual([calls.rewind, calls.start, calls.wipe], [1, 0, 0]);
  await step(true);
  assert.equal(calls.rewind, 2, 'the next cycle tries again');
});
