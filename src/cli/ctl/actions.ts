import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import type { ClusterState } from '../../cluster/index.js';
import { mergePatch } from '../../cluster/merge-patch.js';
import { SwitchyardError } from '../../errors.js';
import { RestError, type RestAnswer } from '../../rest/patroni.js';
import { confirm, confirmTyped } from './confirm.js';
import { out, withClient } from './run.js';

/** Runs one REST action and prints `what: status body`; an answer ≥ 400 sets exit code 1 and goes on. */
async function act(what: string, call: () => Promise<RestAnswer>): Promise<void> {
  try {
    const a = await call();
    out(`${what}: ${a.status} ${a.body}`);
  } catch (err) {
    if (err instanceof RestError && err.status !== null) {
      out(`${what}: ${err.status} ${err.body}`);
      process.exitCode = 1;
    } else throw err;
  }
}

/** `a.b.c=value` → nested object; values parsed as YAML scalars (`true`, `10`, `null`). */
export function setPath(target: Record<string, unknown>, path: string, raw: string): void {
  const keys = path.split('.');
  let node = target;
  for (const k of keys.slice(0, -1)) {
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = parseYaml(raw) as unknown;
}

/** The member actions go through: the leader, else any member with an API. */
function anyApi(cluster: ClusterState): string {
  const via = cluster.leader?.name ?? [...cluster.members.keys()].sort()[0];
  if (!via) throw new SwitchyardError('SY_ERR_AGENT', `cluster ${cluster.scope} has no member to talk to`);
  return via;
}

/** Named members, or every member when none is named (after a prompt when the leader is among them). */
async function membersFor(cluster: ClusterState, names: string[], verb: string, force?: boolean) {
  const all = [...cluster.members.keys()].sort();
  for (const n of names)
    if (!cluster.members.has(n))
      throw new SwitchyardError(
        'SY_ERR_AGENT',
        `${n} is not a member of cluster ${cluster.scope} (members: ${all.join(', ')})`,
      );
  const chosen = names.length ? names : all;
  const leader = cluster.leader?.name;
  if (names.length === 0 || (leader && chosen.includes(leader)))
    await confirm(
      `${verb} ${chosen.join(', ')}${leader && chosen.includes(leader) ? ` (including the leader ${leader})` : ''} of cluster ${cluster.scope}?`,
      force,
    );
  return chosen;
}

export function registerActions(ctl: Command): void {
  ctl
    .command('edit-config')
    .description('change /config: -s key.path=value, -p pg_param=value, --apply file (compare-and-set)')
    .option('-s, --set <kv...>', 'dynamic setting, e.g. loop_wait=5')
    .option('-p, --pg <kv...>', 'PostgreSQL parameter, e.g. max_connections=200')
    .option('--apply <file>', 'YAML/JSON merge patch')
    .action(async (o: { set?: string[]; pg?: string[]; apply?: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const cluster = await c.read();
        let patch: Record<string, unknown> = {};
        if (o.apply) patch = (parseYaml(await readFile(o.apply, 'utf8')) as Record<string, unknown>) ?? {};
        for (const kv of o.set ?? [])
          setPath(patch, kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1));
        for (const kv of o.pg ?? [])
          setPath(
            patch,
            `postgresql.parameters.${kv.slice(0, kv.indexOf('='))}`,
            kv.slice(kv.indexOf('=') + 1),
          );
        const writer = c.writer();
        if (!writer) {
          // etcd v2: the leader applies the merge patch (PATCH /config).
          await act('edit-config', () => c.rest.patchConfig(c.apiOf(cluster, anyApi(cluster)), patch));
          return;
        }
        if (cluster.config.modRevision === null)
          throw new SwitchyardError('SY_ERR_AGENT', 'the cluster has no /config key yet');
        const next = mergePatch(cluster.config.raw as Record<string, unknown>, patch);
        if (!(await writer.writeConfig(next, cluster.config.modRevision)))
          throw new SwitchyardError(
            'SY_ERR_AGENT',
            'the configuration was changed by someone else meanwhile; run edit-config again',
          );
        out(toYaml(next).trimEnd());
      }),
    );
  ctl
    .command('switchover')
    .description('planned switchover to a healthy replica (asks first; --force to skip)')
    .option('--leader <name>', 'current leader (default: the leader key)')
    .option('--primary <name>', 'alias of --leader')
    .option('--candidate <name>', 'member to promote (default: the healthiest)')
    .option('--scheduled <time>', 'ISO 8601 time with time zone, or "now"')
    .option('--force', 'do not ask')
    .action(
      async (
        o: { leader?: string; primary?: string; candidate?: string; scheduled?: string; force?: boolean },
        cmd: Command,
      ) =>
        withClient(cmd, async (c, g) => {
          const cluster = await c.read();
          const leader = o.leader ?? o.primary ?? cluster.leader?.name;
          if (!leader)
            throw new SwitchyardError('SY_ERR_SWITCHOVER', 'the cluster has no leader; use failover');
          const body: { leader: string; candidate?: string; scheduled_at?: string } = { leader };
          if (o.candidate) body.candidate = o.candidate;
          if (o.scheduled && o.scheduled !== 'now') body.scheduled_at = o.scheduled;
          await confirm(
            `Switch over cluster ${c.scope} from ${leader} to ${o.candidate ?? 'the healthiest replica'}${body.scheduled_at ? ` at ${body.scheduled_at}` : ' now'}?`,
            o.force ?? g.force,
          );
          await act('switchover', () => c.rest.switchover(c.apiOf(cluster, leader), body));
        }),
    );
  ctl
    .command('failover')
    .description('promote a named member, with or without a leader (asks first; --force to skip)')
    .requiredOption('--candidate <name>', 'member to promote')
    .option('--force', 'do not ask')
    .action(async (o: { candidate: string; force?: boolean }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const cluster = await c.read();
        const via = cluster.leader?.name ?? o.candidate;
        await confirm(
          `Fail over cluster ${c.scope} to ${o.candidate}${cluster.leader ? ` (demoting ${cluster.leader.name})` : ''}?`,
          o.force,
        );
        await act('failover', () => c.rest.failover(c.apiOf(cluster, via), { candidate: o.candidate }));
      }),
    );
  for (const [name, value] of [
    ['pause', true],
    ['resume', null],
  ] as const) {
    ctl
      .command(name)
      .description(name === 'pause' ? 'maintenance mode: no automatic failover' : 'leave maintenance mode')
      .action(async (_o, cmd: Command) =>
        withClient(cmd, async (c) => {
          const cluster = await c.read();
          await act(name, () => c.rest.patchConfig(c.apiOf(cluster, anyApi(cluster)), { pause: value }));
        }),
      );
  }
  ctl
    .command('restart')
    .description('restart PostgreSQL on the named members; all of them (after a prompt) when none is named')
    .argument('[members...]')
    .option('--pending', 'only members with pending restart')
    .option('--scheduled <time>', 'ISO 8601 time with time zone: Patroni restarts then')
    .option('--force', 'do not ask (restarting the leader or every member asks first)')
    .action(
      async (
        members: string[],
        o: { pending?: boolean; scheduled?: string; force?: boolean },
        cmd: Command,
      ) =>
        withClient(cmd, async (c) => {
          const cluster = await c.read();
          const chosen = await membersFor(cluster, members, 'Restart PostgreSQL on', o.force);
          const body = {
            ...(o.pending ? { restart_pending: true } : {}),
            ...(o.scheduled ? { schedule: o.scheduled } : {}),
          };
          for (const m of chosen) await act(`restart ${m}`, () => c.rest.restart(c.apiOf(cluster, m), body));
        }),
    );
  ctl
    .command('reload')
    .description('reload the configuration of the named members (all when none is named): POST /reload')
    .argument('[members...]')
    .action(async (members: string[], _o, cmd: Command) =>
      withClient(cmd, async (c) => {
        const cluster = await c.read();
        for (const m of members.length ? members : [...cluster.members.keys()].sort())
          await act(`reload ${m}`, () => c.rest.reload(c.apiOf(cluster, m)));
      }),
    );
  ctl
    .command('reinit')
    .description('wipe and re-clone a replica')
    .argument('<members...>')
    .option('--force', 'also when a task is running')
    .action(async (members: string[], o: { force?: boolean }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const cluster = await c.read();
        for (const m of members)
          await act(`reinit ${m}`, () =>
            c.rest.reinitialize(c.apiOf(cluster, m), { force: o.force === true }),
          );
      }),
    );
  ctl
    .command('flush')
    .description('cancel scheduled actions: "flush restart [members...]" or "flush switchover"')
    .argument('<what>', 'restart or switchover')
    .argument('[members...]')
    .action(async (what: string, members: string[], _o, cmd: Command) =>
      withClient(cmd, async (c) => {
        const cluster = await c.read();
        if (what === 'switchover') {
          await act('flush switchover', () => c.rest.cancelSwitchover(c.apiOf(cluster, anyApi(cluster))));
        } else if (what === 'restart') {
          for (const m of members.length ? members : [...cluster.members.keys()].sort())
            await act(`flush restart ${m}`, () => c.rest.cancelRestart(c.apiOf(cluster, m)));
        } else {
          throw new SwitchyardError(
            'SY_ERR_AGENT',
            `flush: expected "restart" or "switchover", got ${JSON.stringify(what)}`,
            {
              exitCode: 2,
            },
          );
        }
      }),
    );
  ctl
    .command('remove')
    .description("delete every key of the cluster from the DCS (after typing the cluster's name)")
    .option('--confirm <scope>', 'the cluster name, to confirm without a prompt')
    .addHelpText('after', '\nStop every member first: a running member writes its keys again.\n')
    .action(async (o: { confirm?: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const cluster = await c.read();
        if (cluster.leader) out(`warning: ${cluster.leader.name} holds the leader key of ${c.scope}`);
        await confirmTyped(`Type the name of the cluster to remove (${c.scope})`, c.scope, o.confirm);
        out(`removed ${await c.removeCluster()} keys of cluster ${c.scope}`);
      }),
    );
}
