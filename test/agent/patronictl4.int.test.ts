import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run, startEtcd, waitFor, type EtcdCluster } from '../harness/index.js';
import { TRIXIE_ROOT, prepareTrixieRoot } from '../harness/stack.js';
import { startAgentCluster, type AgentCluster } from './helpers.js';
import type { ListRow } from '../../src/cli/ctl/format.js';

// Debian 13's patronictl 4.0.7 (run from the trixie root through chroot, as the harness runs the trixie
// stack) and Debian 12's patronictl 3.0.2 list one 3-node agent cluster. docs/agent.md ("patronictl")
// records the one column where they differ and why.
const hasTrixie = existsSync(join(TRIXIE_ROOT, '.switchyard-complete'));
let etcd: EtcdCluster;
let cluster: AgentCluster;
let ctlConfig: string;

type Row = Omit<ListRow, 'Cluster'> & { Cluster?: string; [column: string]: unknown };

async function patronictl(version: 3 | 4, format: 'json' | 'pretty'): Promise<string> {
  const args = ['-c', ctlConfig, 'list', 'ctl4', ...(format === 'json' ? ['--format', 'json'] : [])];
  const res =
    version === 4
      ? await run('/usr/sbin/chroot', [TRIXIE_ROOT, '/usr/bin/patronictl', ...args], { timeoutMs: 30_000 })
      : await run('patronictl', args, { timeoutMs: 30_000 });
  return res.stdout;
}

before(async () => {
  if (!hasTrixie) return;
  prepareTrixieRoot();
  etcd = await startEtcd();
  cluster = await startAgentCluster({ scope: 'ctl4', nodes: 3, etcd });
  // In the cluster's temp dir: os.tmpdir() is bound at the same path inside the root.
  ctlConfig = cluster.group.writeFile('patronictl.yml', `etcd3:\n  hosts: ${etcd.endpoints.join(',')}\n`);
  for (const n of cluster.nodes) cluster.start(n.name);
  await cluster.waitForLeader({ timeoutMs: 90_000 });
  await cluster.waitForReplicas(['pg1', 'pg2', 'pg3']);
});

after(async () => {
  await cluster?.stopAll();
  await etcd?.stop();
});

test(
  "Debian 13's patronictl 4.0.7 lists an agent cluster: members, hosts, roles, timelines; replicas streaming",
  { skip: !hasTrixie && `no trixie root at ${TRIXIE_ROOT}` },
  async () => {
    const leader = (await cluster.leaderKey()) as string;
    const rows = await waitFor(
      async () => {
        const r = JSON.parse(await patronictl(4, 'json')) as Row[];
        return r.length === 3 &&
          r.every(
            (x) => x.TL === 1 && (x.Role === 'Leader' ? x.State === 'running' : x.State === 'streaming'),
          )
          ? r
          : null;
      },
      {
        what: 'patronictl 4.0.7 list: a running leader and two streaming replicas on TL 1',
        timeoutMs: 30_000,
      },
    );
    // The header names the cluster and its system identifier (the agent's `initialize` key): 4.0.7 prints
    // it for every cluster, 3.0.2 only for Citus groups.
    const [control] = await cluster.sql<{ id: string }>(
      leader,
      'SELECT system_identifier::text AS id FROM pg_control_system()',
    );
    assert.match(await patronictl(4, 'pretty'), new RegExp(`^\\+ Cluster: ctl4 \\(${control?.id}\\) -`, 'm'));
    assert.match(await patronictl(3, 'pretty'), /^\+ Cluster: ctl4 -/m);
    assert.deepEqual(
      rows.map((r) => [r.Member, r.Role]),
      ['pg1', 'pg2', 'pg3'].map((n) => [n, n === leader ? 'Leader' : 'Replica']),
    );
    for (const r of rows) {
      assert.match(r.Host, /^127\.0\.0\.1:\d+$/, `${r.Member}: host from conn_url`);
      assert.equal(r.Host, `127.0.0.1:${cluster.node(r.Member).pgPort}`);
    }
    const v3 = JSON.parse(await patronictl(3, 'json')) as Row[];
    // The same cluster through both versions: every column but State agrees (the lag too).
    assert.deepEqual(
      v3.map((r) => [r.Member, r.Host, r.Role, r.TL, r['Lag in MB']]),
      rows.map((r) => [r.Member, r.Host, r.Role, r.TL, r['Lag in MB']]),
    );
    assert.deepEqual(
      v3.map((r) => r.State),
      rows.map(() => 'running'),
      'Patroni 3.0.2 shows every member running',
    );
  },
);
