import type { Command } from 'commander';
import { stringify as toYaml, parse as parseYaml } from 'yaml';
import { readFile } from 'node:fs/promises';
import { loadAgentConfig } from '../../agent/config/load.js';
import { CtlClient, type RestAnswer } from '../../agent/ctl/client.js';
import { formatHistory, formatList, historyRows, listRows } from '../../agent/ctl/format.js';
import { mergePatch } from '../../agent/api/server.js';
import { SwitchyardError } from '../errors.js';

interface Global {
  config: string;
  format: 'pretty' | 'json';
}

async function withClient<T>(cmd: Command, fn: (c: CtlClient, g: Global) => Promise<T>): Promise<T> {
  const g = cmd.optsWithGlobals() as Global;
  const { config } = await loadAgentConfig(g.config);
  const client = await CtlClient.open(config);
  try {
    return await fn(client, g);
  } finally {
    client.close();
  }
}

const out = (text: string) => process.stdout.write(`${text}\n`);

function report(what: string, a: RestAnswer): void {
  out(`${what}: ${a.status} ${a.body}`);
  if (a.status >= 300) process.exitCode = 1;
}

/** `a.b.c=value` → nested object; values parsed as YAML scalars (`true`, `10`, `null`). */
function setPath(target: Record<string, unknown>, path: string, raw: string): void {
  const keys = path.split('.');
  let node = target;
  for (const k of keys.slice(0, -1)) {
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = parseYaml(raw) as unknown;
}

/**
 * `switchyard ctl --config node.yml <command>`: patronictl's everyday commands against an agent (or Patroni)
 * cluster. Reads come from etcd; actions go through the leader's (or the member's) REST API, so the HA loop
 * stays the only thing that promotes or demotes.
 */
export function register(program: Command): void {
  const ctl = program
    .command('ctl')
    .description('patronictl-like control of a cluster (list, switchover, failover, pause, ...)')
    .requiredOption('-c, --config <file>', 'Patroni YAML of any node of the cluster')
    .option('-f, --format <format>', 'pretty or json', 'pretty');

  for (const [name, description, isTree] of [
    ['list', 'members, roles, states, timelines and lag', false],
    ['topology', 'members as a tree, leader first', true],
  ] as const) {
    ctl
      .command(name)
      .description(description)
      .action(async (_o, cmd: Command) =>
        withClient(cmd, async (c, g) => {
          const cluster = await c.read();
          out(
            g.format === 'json'
              ? JSON.stringify(listRows(c.config.scope, cluster))
              : formatList(c.config.scope, cluster, isTree),
          );
        }),
      );
  }
  ctl
    .command('history')
    .description('timeline history')
    .action(async (_o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const cluster = await c.read();
        out(g.format === 'json' ? JSON.stringify(historyRows(cluster)) : formatHistory(cluster));
      }),
    );
  ctl
    .command('show-config')
    .description('the dynamic configuration (/config)')
    .action(async (_o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const cluster = await c.read();
        out(g.format === 'json' ? JSON.stringify(cluster.config.raw) : toYaml(cluster.config.raw).trimEnd());
      }),
    );
  ctl
    .command('edit-config')
    .description('change /config: -s key.path=value, -p pg_param=value, --apply file (compare-and-set)')
    .option('-s, --set <kv...>', 'dynamic setting, e.g. loop_wait=5')
    .option('-p, --pg <kv...>', 'PostgreSQL parameter, e.g. max_connections=200')
    .option('--apply <file>', 'YAML/JSON merge patch')
    .action(async (o: { set?: string[]; pg?: string[]; apply?: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const cluster = await c.read();
        if (cluster.config.modRevision === null)
          throw new SwitchyardError('SY_ERR_AGENT', 'the cluster has no /config key yet');
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
        const next = mergePatch(cluster.config.raw as Record<string, unknown>, patch);
        if (!(await c.writer.writeConfig(next, cluster.config.modRevision))) {
          throw new SwitchyardError(
            'SY_ERR_AGENT',
            'the configuration was changed by someone else meanwhile; run edit-config again',
          );
        }
        out(toYaml(next).trimEnd());
      }),
    );
  ctl
    .command('switchover')
    .description('planned switchover to a healthy replica')
    .option('--leader <name>', 'current leader (default: the leader key)')
    .option('--primary <name>', 'alias of --leader')
    .option('--candidate <name>', 'member to promote (default: the healthiest)')
    .option('--scheduled <time>', 'ISO 8601 time with time zone, or "now"')
    .option('--force', 'do not ask (always the case here)')
    .action(
      async (
        o: { leader?: string; primary?: string; candidate?: string; scheduled?: string },
        cmd: Command,
      ) =>
        withClient(cmd, async (c) => {
          const cluster = await c.read();
          const leader = o.leader ?? o.primary ?? cluster.leader?.name;
          if (!leader)
            throw new SwitchyardError('SY_ERR_SWITCHOVER', 'the cluster has no leader; use failover');
          const body: Record<string, string> = { leader };
          if (o.candidate) body['candidate'] = o.candidate;
          if (o.scheduled && o.scheduled !== 'now') body['scheduled_at'] = o.scheduled;
          report('switchover', await c.rest(cluster, leader, 'POST', '/switchover', body));
        }),
    );
  ctl
    .command('failover')
    .description('promote a named member, with or without a leader')
    .requiredOption('--candidate <name>', 'member to promote')
    .option('--force', 'do not ask (always the case here)')
    .action(async (o: { candidate: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const cluster = await c.read();
        const via = cluster.leader?.name ?? o.candidate;
        report('failover', await c.rest(cluster, via, 'POST', '/failover', { candidate: o.candidate }));
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
          const via = cluster.leader?.name ?? [...cluster.members.keys()][0];
          if (!via) throw new SwitchyardError('SY_ERR_AGENT', 'no member to talk to');
          report(name, await c.rest(cluster, via, 'PATCH', '/config', { pause: value }));
        }),
      );
  }
  ctl
    .command('restart')
    .description('restart PostgreSQL on members (all when none named)')
    .argument('[members...]')
    .action(async (members: string[], _o, cmd: Command) =>
      withClient(cmd, async (c) => {
        const cluster = await c.read();
        for (const m of members.length ? members : [...cluster.members.keys()].sort())
          report(`restart ${m}`, await c.rest(cluster, m, 'POST', '/restart', {}));
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
          report(
            `reinit ${m}`,
            await c.rest(cluster, m, 'POST', '/reinitialize', { force: o.force === true }),
          );
      }),
    );
}
