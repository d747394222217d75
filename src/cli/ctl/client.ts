import type { ClusterState, Member } from '../../cluster/index.js';
import { buildClusterState } from '../../cluster/index.js';
import { ClusterWriter } from '../../dcs/cluster-writer.js';
import { openSnapshotReader, type SnapshotReader } from '../../dcs/snapshot.js';
import { SwitchyardError } from '../../errors.js';
import { PatroniRest } from '../../rest/patroni.js';
import type { CtlTarget } from './target.js';

/**
 * What `switchyard ctl` talks to: the DCS (etcd v3 or v2) for reads, the members' REST API for actions.
 * Direct DCS writes (`edit-config`'s compare-and-set, `remove`) need etcd v3; on v2 `edit-config` goes
 * through the leader's PATCH /config.
 */
export class CtlClient {
  private constructor(
    readonly target: CtlTarget,
    private readonly reader: SnapshotReader,
    readonly rest: PatroniRest,
  ) {}

  static async open(target: CtlTarget): Promise<CtlClient> {
    const reader = await openSnapshotReader(target.type, target.conn);
    return new CtlClient(
      target,
      reader,
      new PatroniRest({ auth: target.auth, tls: target.tls, timeoutMs: 60_000 }),
    );
  }

  get scope(): string {
    return this.target.scope;
  }

  async read(): Promise<ClusterState> {
    const scopes = await this.reader.read(this.target.namespace, [this.target.scope]);
    return buildClusterState(this.target.scope, (scopes.get(this.target.scope) ?? new Map()).values());
  }

  /** A writer on etcd v3, or null on v2. */
  writer(): ClusterWriter | null {
    return this.reader.etcd3
      ? new ClusterWriter(this.reader.etcd3, this.target.namespace, this.target.scope, 5000)
      : null;
  }

  /** The member's `api_url`, or a coded error naming the member. */
  apiOf(cluster: ClusterState, name: string): string {
    const m: Member | undefined = cluster.members.get(name);
    if (!m) throw new SwitchyardError('SY_ERR_AGENT', `${name} is not a member of cluster ${this.scope}`);
    if (!m.api)
      throw new SwitchyardError('SY_ERR_AGENT', `member ${name} has no REST API URL (api_url) in the DCS`);
    return m.api.url;
  }

  /** Deletes every key of the cluster (v3 only). Returns how many were deleted. */
  async removeCluster(): Promise<number> {
    const etcd = this.reader.etcd3;
    if (!etcd)
      throw new SwitchyardError(
        'SY_ERR_AGENT',
        'ctl remove needs etcd v3 (dcs.type: etcd3); on v2 use: etcdctl rm -r <namespace>/<scope>',
      );
    const prefix = `${this.target.namespace.replace(/\/$/, '')}/${this.target.scope}/`;
    const res = await etcd.delete().prefix(prefix).exec();
    return Number(res.deleted);
  }

  async close(): Promise<void> {
    await this.reader.close();
    await this.rest.close();
  }
}
