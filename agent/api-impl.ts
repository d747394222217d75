import type { ClusterState } from '../src/cluster/index.js';
import type { AgentApi } from './api/server.js';
import type { NodeView } from './api/view.js';
import type { PeerStatus } from './ha/types.js';
import type { SwitchoverRequest } from './api/switchover.js';
import { followingOf } from './execute.js';
import { probePeers } from './peers.js';
import type { AgentPort } from './node-port.js';

/** The REST API's window onto a running Agent: reads, intent writes, wake-ups. */
export class AgentApiImpl implements AgentApi {
  constructor(private readonly agent: AgentPort) {}

  view(): NodeView {
    return this.agent.view();
  }

  refreshView(): Promise<NodeView> {
    return this.agent.refreshView();
  }

  async readCluster(): Promise<ClusterState> {
    return (await this.agent.writer.read()).state;
  }

  async probePeers(cluster: ClusterState): Promise<ReadonlyMap<string, PeerStatus>> {
    const peers = await probePeers(cluster, this.agent.config.name);
    if (cluster.leader?.name === this.agent.config.name) this.agent.handoverPrep.notePeers(peers);
    return peers;
  }

  /** Starts the pre-stop CHECKPOINT while the request is checked, when it asks this leader to hand over now. */
  prepareHandover(cluster: ClusterState, body: SwitchoverRequest): void {
    const name = this.agent.config.name;
    const isNow = body.scheduled_at === undefined || body.scheduled_at === null || body.scheduled_at === '';
    if (body.leader === name && cluster.leader?.name === name && isNow && this.agent.isLeaderNow())
      this.agent.handoverPrep.startCheckpoint();
  }

  writeFailover(value: { leader?: string; member?: string; scheduled_at?: string }): Promise<void> {
    return this.agent.writer.writeFailover(value);
  }

  async clearFailover(): Promise<void> {
    await this.agent.writer.clearFailover(null);
  }

  writeConfig(config: Record<string, unknown>, modRevision: number): Promise<boolean> {
    return this.agent.writer.writeConfig(config, modRevision);
  }

  wake(): void {
    this.agent.wake();
  }

  async restart(): Promise<{ ok: boolean; message: string }> {
    const a = this.agent;
    if (a.task) return { ok: false, message: `${a.task.name} in progress` };
    if (!a.control.isRunning()) return { ok: false, message: 'postgres is not running' };
    const wasPrimary = a.obs?.local.isInRecovery === false;
    const following = a.obs?.status?.primaryConninfo ?? null;
    const started = await a.startTask('restart', 'restarting', async () => {
      await a.apiQuery.reset();
      await a.control.stop('fast');
      const leader = following
        ? [...(a.cluster?.members.values() ?? [])].find(
            (m) => m.host === following.host && m.port === following.port,
          )
        : undefined;
      await a.control.start({
        standby: !wasPrimary,
        following: leader ? followingOf(leader, a.config.name) : null,
        synchronousStandbyNames: wasPrimary ? a.ssn : '',
      });
    });
    if (!started.isStarted) return { ok: false, message: `${started.busy} in progress` };
    const error = await started.done;
    return error === null
      ? { ok: true, message: 'restarted successfully' }
      : { ok: false, message: `restart failed: ${error}` };
  }

  async reinitialize(force: boolean): Promise<{ ok: boolean; message: string }> {
    const a = this.agent;
    const cluster = (await a.writer.read()).state;
    if (cluster.leader?.name === a.config.name)
      return { ok: false, message: 'I am the leader, can not reinitialize' };
    if (!cluster.leader) return { ok: false, message: 'Cluster has no leader, can not reinitialize' };
    if (a.task && !force) return { ok: false, message: `${a.task.name} already in progress` };
    const started = await a.startTask(
      'reinitialize',
      'creating replica',
      async () => {
        await a.apiQuery.reset();
        await a.control.stop('immediate');
        a.control.wipe();
      },
      force,
    );
    if (!started.isStarted) return { ok: false, message: `${started.busy} already in progress` };
    return { ok: true, message: 'reinitialize started' };
  }

  reload(): void {
    this.agent.wake();
  }

  acceptFailsafe(_from: string): { ok: boolean; lsn: number | null; message: string } {
    const a = this.agent;
    if (a.isLeaderNow()) return { ok: false, lsn: null, message: 'Running as a leader' };
    const cluster = a.cluster;
    if (!cluster?.config.isFailsafeMode)
      return { ok: false, lsn: null, message: 'failsafe mode is not enabled' };
    a.noteFailsafeLeaderAlive(Date.now() + cluster.config.ttl * 1000);
    return { ok: true, lsn: a.obs?.local.walPosition ?? null, message: 'Accepted' };
  }

  async waitForLeaderChange(from: string, timeoutMs: number): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leader = (await this.agent.writer.read()).state.leader?.name ?? null;
      if (leader && leader !== from) return leader;
      await this.agent.onLeaderEvent(Math.min(500, deadline - Date.now()));
    }
    return null;
  }
}
