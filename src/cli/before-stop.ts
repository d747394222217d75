import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { connectEtcd, type EtcdConnection } from '../dcs/connect.js';
import { announceStop, drainKey } from '../dcs/drain.js';
import { PatroniEtcd3Schema, etcdConnectionOf, patroniEtcd3Problems } from '../dcs/patroni-etcd3.js';
import { SwitchyardError, describeError } from '../errors.js';

/** Longest wait for etcd itself (one read): a stop with etcd down (Patroni demoting on DCS loss) must not wait. */
const ETCD_BUDGET_MS = 500;

const help = `
Patroni (>= 3.0.3) runs this right before it stops PostgreSQL, after its CHECKPOINT. During a
\`switchyard switchover\` it waits (at most --wait-ms) until the command has paused PgBouncer, so clients
are paused at the stop instead of through Patroni's pre-stop work. Any other stop: one etcd read, no wait.
It always exits 0 (Patroni ignores the exit code); it prints one line.

In patroni.yml:
  postgresql:
    before_stop: switchyard before-stop -c /etc/patroni/patroni.yml
  tags:
    switchyard_before_stop: true     # tells switchyard switchover to use the handshake

Or without patroni.yml:
  switchyard before-stop --dcs-url http://10.0.0.5:2379 --scope main --name pg1
`;

const PatroniYaml = z
  .object({
    scope: z.string().min(1),
    namespace: z.string().min(1).optional(),
    name: z.string().min(1),
    etcd3: PatroniEtcd3Schema,
  })
  .passthrough();

export interface BeforeStopTarget {
  conn: EtcdConnection;
  namespace: string;
  scope: string;
  name: string;
}

/** Reads only what the hook needs from a Patroni YAML (etcd3, namespace, scope, name); lenient about the rest. */
export function targetFromPatroniYaml(file: string): BeforeStopTarget {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SwitchyardError('SY_ERR_CONFIG_UNREADABLE', `cannot read ${file}: ${describeError(err)}`, {
      exitCode: 2,
    });
  }
  const parsed = PatroniYaml.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SwitchyardError(
      'SY_ERR_CONFIG_INVALID',
      `${file}: ${issue?.path.join('.') || '(top)'}: ${issue?.message ?? 'invalid'} (before-stop needs scope, name and etcd3)`,
      { exitCode: 2 },
    );
  }
  const problem = patroniEtcd3Problems(parsed.data.etcd3)[0];
  if (problem) throw new SwitchyardError('SY_ERR_CONFIG_INVALID', `${file}: ${problem}`, { exitCode: 2 });
  return {
    conn: etcdConnectionOf(parsed.data.etcd3),
    namespace: parsed.data.namespace ?? '/service',
    scope: parsed.data.scope,
    name: parsed.data.name,
  };
}

/** One handshake, bounded as a whole by `waitMs` + the etcd budget; never throws. Returns the line to print. */
export async function runBeforeStop(target: BeforeStopTarget, waitMs: number): Promise<string> {
  const started = Date.now();
  const key = drainKey(target.namespace, target.scope);
  let client: Awaited<ReturnType<typeof connectEtcd>> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('gave up waiting'), waitMs + ETCD_BUDGET_MS);
  });
  try {
    const work = (async () => {
      client = await connectEtcd({ ...target.conn, requestTimeoutMs: ETCD_BUDGET_MS });
      return announceStop(client, key, target.name, waitMs);
    })().catch((err: unknown) => `etcd: ${describeError(err)}`);
    const outcome = await Promise.race([work, bound]);
    return `switchyard before-stop: ${target.name}: ${outcome} (${Date.now() - started} ms)`;
  } finally {
    clearTimeout(timer);
    (client as { close(): void } | null)?.close();
  }
}

export function register(program: Command): void {
  program
    .command('before-stop')
    .description(
      "Patroni's postgresql.before_stop hook: hold the stop until switchyard switchover has paused PgBouncer",
    )
    .option('-c, --config <file>', "this node's patroni.yml (etcd3, namespace, scope, name)")
    .option('--dcs-url <urls>', 'etcd endpoints, comma-separated (instead of -c)')
    .option('--namespace <path>', 'with --dcs-url: Patroni namespace', '/service')
    .option('--scope <name>', 'with --dcs-url: cluster name')
    .option('--name <member>', 'with --dcs-url: this member')
    .option('--wait-ms <ms>', 'longest wait for the pause', '5000')
    .addHelpText('after', help)
    .action(
      async (o: {
        config?: string;
        dcsUrl?: string;
        namespace: string;
        scope?: string;
        name?: string;
        waitMs: string;
      }) => {
        const waitMs = Number(o.waitMs);
        if (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > 60_000)
          throw new SwitchyardError(
            'SY_ERR_CONFIG_INVALID',
            `--wait-ms: expected 0..60000, got ${o.waitMs}`,
            {
              exitCode: 2,
            },
          );
        let target: BeforeStopTarget;
        if (o.config !== undefined && o.dcsUrl === undefined) target = targetFromPatroniYaml(o.config);
        else if (o.config === undefined && o.dcsUrl !== undefined && o.scope && o.name)
          target = {
            conn: { hosts: o.dcsUrl.split(',').map((h) => h.trim()) },
            namespace: o.namespace,
            scope: o.scope,
            name: o.name,
          };
        else
          throw new SwitchyardError(
            'SY_ERR_CONFIG_INVALID',
            'switchyard before-stop: give -c patroni.yml, or --dcs-url URL --scope NAME --name MEMBER',
            { exitCode: 2 },
          );
        const line = await runBeforeStop(target, waitMs);
        // Patroni's stop waits for this process: exit as soon as the line is out, without waiting for
        // the etcd client's gRPC channel to wind down (measured: 140–320 ms).
        process.stdout.write(`${line}\n`, () => process.exit(0));
      },
    );
}
