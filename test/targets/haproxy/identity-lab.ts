/**
 * The HAProxy integration tests' lab: real etcd holding Patroni-layout keys for stand-in nodes pg1..pg3
 * that answer their name (so routing is asserted by where connections land), `switchyard render` run as
 * config management would, and a real HAProxy started on the rendered file.
 */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import {
  ProcessGroup,
  run,
  startEtcd,
  startHaproxy,
  type EtcdCluster,
  type HaproxyInstance,
  type RunResult,
} from '../../harness/index.js';
import { IdentityNode, PatroniKeys, ROOT, memberValue } from '../../harness/router.js';

export interface IdentityLab {
  etcd: EtcdCluster;
  keys: PatroniKeys;
  nodes: IdentityNode[];
  /** Rewrites the member key of `name` with `role`. */
  setRole(name: string, role: 'primary' | 'replica'): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts etcd and pg1..pg3 (each a primary while `isLeader(name)`), writes the scope `app`'s config, the
 * first `members` member keys (role from `isLeader`) and the leader key for `leader`.
 */
export async function startIdentityLab(opts: {
  isLeader: (name: string) => boolean;
  leader: string;
  members: number;
}): Promise<IdentityLab> {
  const etcd = await startEtcd();
  const keys = new PatroniKeys(etcd.endpoints, 'app');
  const nodes: IdentityNode[] = [];
  for (const name of ['pg1', 'pg2', 'pg3'])
    nodes.push(await new IdentityNode(name, () => opts.isLeader(name)).start());
  await keys.config();
  for (const n of nodes.slice(0, opts.members))
    await keys.member(
      n.name,
      memberValue({ port: n.port, apiPort: n.apiPort, role: opts.isLeader(n.name) ? 'primary' : 'replica' }),
    );
  await keys.leader(opts.leader);
  return {
    etcd,
    keys,
    nodes,
    setRole: async (name, role) => {
      const node = nodes.find((n) => n.name === name) as IdentityNode;
      await keys.member(name, memberValue({ port: node.port, apiPort: node.apiPort, role }));
    },
    close: async () => {
      await keys.close();
      await etcd.stop();
      for (const n of nodes) await n.stop();
    },
  };
}

/** Writes `render.yml` for `config` in the group's folder and runs `switchyard render` on it once. */
export function renderWithCli(
  group: ProcessGroup,
  config: object,
  extraArgs: string[] = [],
): Promise<RunResult> {
  const routerYml = group.writeFile('render.yml', stringify({ ...config, api: { listen: '127.0.0.1:0' } }));
  return render(routerYml, extraArgs);
}

/** Runs `switchyard render --config <path>` from source (exit code left to the caller). */
export function render(configPath: string, extraArgs: string[] = []): Promise<RunResult> {
  return run(
    process.execPath,
    ['--import', 'tsx', 'src/cli/run.ts', 'render', '--config', configPath, ...extraArgs],
    { cwd: ROOT, reject: false },
  );
}

/** Starts HAProxy on `configPath` and writes its pid where the router's `kill -USR2 $(cat …)` reload reads it. */
export async function startHaproxyWithPid(group: ProcessGroup, configPath: string): Promise<HaproxyInstance> {
  const haproxy = await startHaproxy({ configPath });
  writeFileSync(`${group.dir}/haproxy.pid`, String(haproxy.pid));
  return haproxy;
}
