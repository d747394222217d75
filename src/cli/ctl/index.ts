import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { stringify as toYaml } from 'yaml';
import type { ClusterState } from '../../cluster/index.js';
import { packageRoot } from '../../paths.js';
import { SwitchyardError, describeError } from '../../errors.js';
import { registerActions } from './actions.js';
import { out, withClient } from './run.js';
import { formatHistory, formatList, historyRows, listRows } from './format.js';
import type { CtlOptions } from './target.js';

/** The member a command addresses: `--member NAME`, else the first with `--role` (leader/replica/any). */
export function pickMember(cluster: ClusterState, member: string | undefined, role = 'leader'): string {
  if (member) {
    if (!cluster.members.has(member))
      throw new SwitchyardError('SY_ERR_AGENT', `${member} is not a member of cluster ${cluster.scope}`);
    return member;
  }
  const leader = cluster.leader?.name;
  const names = [...cluster.members.keys()].sort();
  const found =
    role === 'leader' || role === 'primary' || role === 'master'
      ? names.find((n) => n === leader)
      : role === 'replica'
        ? names.find((n) => n !== leader)
        : role === 'any'
          ? (leader ?? names[0])
          : undefined;
  if (!found)
    throw new SwitchyardError(
      'SY_ERR_AGENT',
      role === 'leader' || role === 'replica' || role === 'any'
        ? `cluster ${cluster.scope} has no ${role} member`
        : `--role must be leader, replica or any, got ${JSON.stringify(role)}`,
    );
  return found;
}

/** libpq keyword DSN of a member, like `patronictl dsn`. */
export function dsnOf(cluster: ClusterState, name: string): string {
  const m = cluster.members.get(name);
  if (!m) throw new SwitchyardError('SY_ERR_AGENT', `${name} is not a member of cluster ${cluster.scope}`);
  return `host=${m.host} port=${m.port}`;
}

const ctlHelp = `
Where the cluster is (exactly one of):
  -c, --config patroni.yml          a node's Patroni/agent YAML (etcd3, scope, restapi.authentication)
  --router-config router.yml        the router's YAML (dcs: type etcd3 or etcd); --cluster SCOPE when it follows several
  --dcs-url http://host:2379        etcd directly, with --scope NAME [--namespace /service] [--dcs-type etcd]

Reads go to the DCS; actions go to the members' REST API (basic auth from patroni.yml's
restapi.authentication, or --rest-username with --rest-password-env/--rest-password-file).
Anything that restarts or demotes the leader asks first; --force answers yes (required without a terminal).

Examples:
  switchyard ctl --router-config /etc/switchyard/router.yml --cluster main list -e
  switchyard ctl --dcs-url http://10.0.0.5:2379 --scope main switchover --candidate pg2 --force
  switchyard ctl -c /etc/patroni.yml query -c 'SELECT now()' --role replica
  psql "$(switchyard ctl -c /etc/patroni.yml dsn)"
`;

/**
 * `switchyard ctl <command>`: patronictl's commands against an agent or Patroni cluster. Reads come from
 * etcd (v3 or v2); actions go through the leader's (or the member's) REST API, so the HA loop stays the
 * only thing that promotes or demotes.
 */
export function register(program: Command): void {
  const ctl = program
    .command('ctl')
    .description('patronictl-like control of a cluster (list, switchover, restart, query, ...)')
    .option('-c, --config <file>', "a node's Patroni YAML (etcd3, scope, restapi auth)")
    .option('--router-config <file>', "the router's YAML; the DCS and namespace from there")
    .option('--cluster <scope>', 'with --router-config: which cluster (when it follows several)')
    .option('--dcs-url <urls>', 'etcd endpoints, comma-separated (with --scope)')
    .option('--dcs-type <type>', 'with --dcs-url: etcd3 (v3 API, default) or etcd (v2 API)')
    .option('--namespace <path>', 'with --dcs-url: Patroni namespace', '/service')
    .option('--scope <name>', 'cluster name (with --dcs-url; overrides patroni.yml scope)')
    .option('--rest-username <user>', 'REST API basic auth user (default: from patroni.yml)')
    .option('--rest-password-env <name>', 'environment variable holding the REST password')
    .option('--rest-password-file <path>', 'file holding the REST password')
    .option('-f, --format <format>', 'pretty or json', 'pretty')
    .enablePositionalOptions()
    .addHelpText('after', ctlHelp);

  for (const [name, description, isTree] of [
    ['list', 'members, roles, states, timelines, lag (and receive/replay LSN on Patroni 4)', false],
    ['topology', 'members as a tree, leader first', true],
  ] as const) {
    ctl
      .command(name)
      .description(description)
      .option('-e, --extended', 'also pending restart, scheduled restart and tags')
      .option('-W', 'watch: print again every 2 s until Ctrl-C')
      .option('-w, --watch <seconds>', 'watch: print again every <seconds>')
      .action(async (o: { extended?: boolean; W?: boolean; watch?: string }, cmd: Command) =>
        withClient(cmd, async (c, g) => {
          const every = o.watch !== undefined ? Number(o.watch) : o.W ? 2 : null;
          if (every !== null && (!Number.isFinite(every) || every <= 0))
            throw new SwitchyardError(
              'SY_ERR_CONFIG_INVALID',
              `--watch must be seconds > 0, got ${o.watch}`,
              {
                exitCode: 2,
              },
            );
          const print = async () => {
            const cluster = await c.read();
            return g.format === 'json'
              ? JSON.stringify(listRows(c.scope, cluster))
              : formatList(c.scope, cluster, isTree, o.extended === true);
          };
          if (every === null) {
            out(await print());
            return;
          }
          let isStopped = false;
          const stop = () => (isStopped = true);
          process.once('SIGINT', stop);
          try {
            while (!isStopped) {
              let text: string;
              try {
                text = await print();
              } catch (err) {
                text = `read failed: ${describeError(err)}`;
              }
              process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}\n${text}\n`);
              for (let waited = 0; waited < every * 1000 && !isStopped; waited += 100)
                await new Promise((r) => setTimeout(r, 100));
            }
          } finally {
            process.off('SIGINT', stop);
          }
        }),
      );
  }
  /** A read-only command: reads the cluster once, prints it as JSON (`--format json`) or text. */
  const show = (
    name: string,
    description: string,
    asJson: (cluster: ClusterState) => unknown,
    asText: (cluster: ClusterState) => string,
  ) =>
    ctl
      .command(name)
      .description(description)
      .action(async (_o, cmd: Command) =>
        withClient(cmd, async (c, g) => {
          const cluster = await c.read();
          out(g.format === 'json' ? JSON.stringify(asJson(cluster)) : asText(cluster));
        }),
      );
  show('history', 'timeline history', historyRows, formatHistory);
  show(
    'show-config',
    'the dynamic configuration (/config)',
    (cluster) => cluster.config.raw,
    (cluster) => toYaml(cluster.config.raw).trimEnd(),
  );
  ctl
    .command('dsn')
    .description(
      'print a libpq DSN of the leader (or --member / --role replica): psql "$(switchyard ctl ... dsn)"',
    )
    .option('--member <name>', 'this member')
    .option('--role <role>', 'leader, replica or any', 'leader')
    .action(async (o: { member?: string; role: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const cluster = await c.read();
        out(dsnOf(cluster, pickMember(cluster, o.member, o.role)));
      }),
    );
  ctl
    .command('query')
    .description('run SQL on the leader (or --member / --role replica) and print the rows')
    .requiredOption('-c, --command <sql>', 'the SQL to run')
    .option('--member <name>', 'this member')
    .option('--role <role>', 'leader, replica or any', 'leader')
    .option('-U, --username <user>', 'database user (default: $PGUSER or postgres)')
    .option('-d, --dbname <name>', 'database (default: $PGDATABASE or postgres)')
    .option('--password-env <name>', 'environment variable holding the password (default: PGPASSWORD)')
    .addHelpText('after', '\nThe connection goes to the host and port the member publishes (conn_url).\n')
    .action(
      async (
        o: {
          command: string;
          member?: string;
          role: string;
          username?: string;
          dbname?: string;
          passwordEnv?: string;
        },
        cmd: Command,
      ) =>
        withClient(cmd, async (c, g) => {
          const cluster = await c.read();
          const name = pickMember(cluster, o.member, o.role);
          const m = cluster.members.get(name);
          if (!m) throw new SwitchyardError('SY_ERR_AGENT', `${name} is not a member`);
          const client = new pg.Client({
            host: m.host,
            port: m.port,
            user: o.username ?? process.env['PGUSER'] ?? 'postgres',
            database: o.dbname ?? process.env['PGDATABASE'] ?? 'postgres',
            password: process.env[o.passwordEnv ?? 'PGPASSWORD'],
            connectionTimeoutMillis: 5000,
            statement_timeout: 60_000,
          });
          try {
            await client.connect();
            const res = await client.query(o.command);
            const rows = (res.rows ?? []) as Record<string, unknown>[];
            if (g.format === 'json') out(JSON.stringify(rows));
            else if (res.fields?.length) {
              out(res.fields.map((f) => f.name).join('\t'));
              for (const r of rows) out(res.fields.map((f) => formatCell(r[f.name])).join('\t'));
            } else out(`${res.command ?? 'OK'} ${res.rowCount ?? ''}`.trim());
          } catch (err) {
            throw new SwitchyardError(
              'SY_ERR_AGENT',
              `query on ${name} (${m.host}:${m.port}) failed: ${describeError(err)}`,
              {
                cause: err,
              },
            );
          } finally {
            await client.end().catch(() => undefined);
          }
        }),
    );
  ctl
    .command('version')
    .description('this switchyard and, with a cluster given, each member’s Patroni and PostgreSQL version')
    .action(async (_o, cmd: Command) => {
      out(`switchyard ctl version ${version()}`);
      const g = cmd.optsWithGlobals() as CtlOptions;
      if (!g.config && !g.routerConfig && !g.dcsUrl) return;
      await withClient(cmd, async (c) => {
        const cluster = await c.read();
        for (const name of [...cluster.members.keys()].sort()) {
          try {
            const doc = (await c.rest.patroni(c.apiOf(cluster, name), { timeoutMs: 5000 })) as {
              patroni?: { version?: string };
              server_version?: number;
            };
            const pgv = doc.server_version;
            out(
              `${name}: Patroni ${doc.patroni?.version ?? '?'} PostgreSQL ${pgv ? `${Math.floor(pgv / 10000)}.${pgv % 10000}` : '?'}`,
            );
          } catch (err) {
            out(`${name}: ${describeError(err)}`);
            process.exitCode = 1;
          }
        }
      });
    });
  registerActions(ctl);
}

function formatCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
