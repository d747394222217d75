import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import { buildClusterState, scopePrefix, type ClusterState, type RawKey } from '../cluster/index.js';
import { translateEtcdError } from './connect.js';
import { pythonJson } from './patroni-json.js';
import { DRAIN_KEY, announceStop } from './drain.js';

export interface ClusterRead {
  readonly state: ClusterState;
  readonly revision: number;
  readonly raw: readonly RawKey[];
}

/**
 * Reads and writes one Patroni cluster's keys the way Patroni 3.0.x/4.x does on etcd v3 (reference
 * patroni.md §1.2, §1.6): create-only transactions for `leader` and `initialize`, `VALUE==name` to move or
 * delete the leader key, `MOD==mod_revision` compare-and-set for `config`, `sync` and `failover` cleanup,
 * plain puts for the rest. Values are serialised byte-compatible with Patroni.
 * Every method throws DcsUnavailableError (or SY_ERR_DCS_UNAVAILABLE) on transport failures.
 */
export class ClusterWriter {
  readonly prefix: string;
  readonly #lastMember = new Map<string, string>();

  constructor(
    private readonly client: Etcd3,
    readonly namespace: string,
    readonly scope: string,
    private readonly timeoutMs = 2000,
  ) {
    this.prefix = scopePrefix(namespace, scope);
  }

  /**
   * The stop handshake (`src/dcs/drain.ts`), leader side, right before a planned stop: when a
   * `switchyard switchover` armed it for `member`, announce the stop and wait (≤ `waitMs`) until the
   * command has paused its poolers. Returns what happened; throws only on transport failures.
   */
  announceStop(member: string, waitMs: number, candidate: string | null): ReturnType<typeof announceStop> {
    return announceStop(this.client, this.prefix + DRAIN_KEY, member, waitMs, { candidate });
  }

  #key(rel: string): Buffer {
    return Buffer.from(this.prefix + rel);
  }

  #opts() {
    return { deadline: Date.now() + this.timeoutMs };
  }

  async #txn(
    action: string,
    compare: ICompare[],
    success: IRequestOp[],
    failure: IRequestOp[] = [],
  ): Promise<boolean> {
    try {
      const res = await this.client.kv.txn({ compare, success, failure }, this.#opts());
      return res.succeeded;
    } catch (err) {
      throw translateEtcdError(err, action);
    }
  }

  async #put(action: string, rel: string, value: string, lease?: string): Promise<void> {
    try {
      await this.client.kv.put(
        { key: this.#key(rel), value: Buffer.from(value), ...(lease ? { lease } : {}) },
        this.#opts(),
      );
    } catch (err) {
      throw translateEtcdError(err, action);
    }
  }

  /** Linearizable read of the whole scope prefix at one revision, parsed into a ClusterState. */
  async read(): Promise<ClusterRead> {
    const start = Buffer.from(this.prefix);
    const end = Buffer.from(
      this.prefix.slice(0, -1) + String.fromCharCode(this.prefix.charCodeAt(this.prefix.length - 1) + 1),
    );
    try {
      const res = await this.client.kv.range({ key: start, range_end: end }, this.#opts());
      const raw: RawKey[] = res.kvs.map((kv) => ({
        key: kv.key.toString().slice(this.prefix.length),
        value: kv.value.toString(),
        modRevision: Number(kv.mod_revision),
        lease: String(kv.lease ?? '0'),
      }));
      return { state: buildClusterState(this.scope, raw), revision: Number(res.header.revision), raw };
    } catch (err) {
      throw translateEtcdError(err, `reading ${this.prefix}`);
    }
  }

  /** Leader race: `CREATE(leader)==0` → put with my lease. True when this node now holds the key. */
  acquireLeader(name: string, lease: string): Promise<boolean> {
    const key = this.#key('leader');
    return this.#txn(
      'acquiring the leader key',
      [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
      [{ request_put: { key, value: Buffer.from(name), lease } }],
    );
  }

  /** Moves the leader key to a new lease of the same owner: `VALUE(leader)==name` only (never overwrites). */
  moveLeaderToLease(name: string, lease: string): Promise<boolean> {
    const key = this.#key('leader');
    return this.#txn(
      'moving the leader key to a new lease',
      [{ key, target: 'Value', result: 'Equal', value: Buffer.from(name) }],
      [{ request_put: { key, value: Buffer.from(name), lease } }],
    );
  }

  /** Deletes the leader key only while it still names me. */
  releaseLeader(name: string): Promise<boolean> {
    const key = this.#key('leader');
    return this.#txn(
      'releasing the leader key',
      [{ key, target: 'Value', result: 'Equal', value: Buffer.from(name) }],
      [{ request_delete_range: { key } }],
    );
  }

  /**
   * Switchover hand-off in one round trip: while the leader key still names me, write `status` (final
   * optime) and `failover` (the caught-up candidate), and delete the leader key. False when the key no
   * longer names me (then nothing is written).
   */
  releaseLeaderWith(
    name: string,
    optime: number | null,
    failover: { leader: string; member: string } | null,
  ): Promise<boolean> {
    const key = this.#key('leader');
    const ops: IRequestOp[] = [];
    if (optime !== null)
      ops.push({ request_put: { key: this.#key('status'), value: Buffer.from(pythonJson({ optime })) } });
    if (failover)
      ops.push({ request_put: { key: this.#key('failover'), value: Buffer.from(pythonJson(failover)) } });
    ops.push({ request_delete_range: { key } });
    return this.#txn(
      'handing over the leader key',
      [{ key, target: 'Value', result: 'Equal', value: Buffer.from(name) }],
      ops,
    );
  }

  /** `members/<name>` on my lease; skipped when the same bytes were written on the same lease. */
  async touchMember(name: string, value: Record<string, unknown>, lease: string): Promise<void> {
    const text = pythonJson(value);
    const memo = `${lease}\u0000${text}`;
    if (this.#lastMember.get(name) === memo) return;
    await this.#put('writing the member key', `members/${name}`, text, lease);
    this.#lastMember.set(name, memo);
  }

  /** Forget what was written (after the lease changed, or etcd may have lost the key). */
  forgetMember(name: string): void {
    this.#lastMember.delete(name);
  }

  /** Bootstrap race: `CREATE(initialize)==0` → put `""`. True for the single winner. */
  raceInitialize(): Promise<boolean> {
    const key = this.#key('initialize');
    return this.#txn(
      'racing for initialize',
      [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
      [{ request_put: { key, value: Buffer.from('') } }],
    );
  }

  writeInitialize(systemId: string): Promise<void> {
    return this.#put('writing initialize', 'initialize', systemId);
  }

  /** Undo a lost bootstrap (initdb failed): delete `initialize` while it is still `""`. */
  cancelInitialize(): Promise<boolean> {
    const key = this.#key('initialize');
    return this.#txn(
      'cancelling initialize',
      [{ key, target: 'Value', result: 'Equal', value: Buffer.from('') }],
      [{ request_delete_range: { key } }],
    );
  }

  /**
   * `config`: `modRevision` null = unconditional put (bootstrap, PUT /config); a number = CAS on
   * mod_revision (PATCH /config, edit-config); 0 = create only. Written like Patroni (`json.dumps` default).
   */
  writeConfig(config: Record<string, unknown>, modRevision: number | null): Promise<boolean> {
    return this.#cas('writing config', 'config', pythonJson(config, false), modRevision);
  }

  async #cas(action: string, rel: string, value: string, modRevision: number | null): Promise<boolean> {
    if (modRevision === null) {
      await this.#put(action, rel, value);
      return true;
    }
    const key = this.#key(rel);
    const compare: ICompare =
      modRevision === 0
        ? { key, target: 'Create', result: 'Equal', create_revision: 0 }
        : { key, target: 'Mod', result: 'Equal', mod_revision: modRevision };
    return this.#txn(action, [compare], [{ request_put: { key, value: Buffer.from(value) } }]);
  }

  writeStatus(optime: number): Promise<void> {
    return this.#put('writing status', 'status', pythonJson({ optime }));
  }

  writeHistory(lines: readonly (readonly (number | string | null)[])[]): Promise<void> {
    return this.#put('writing history', 'history', pythonJson(lines));
  }

  writeFailsafe(members: Record<string, string>): Promise<void> {
    return this.#put('writing failsafe', 'failsafe', pythonJson(members));
  }

  /** `failover` request as REST and patronictl write it: `{"leader":..,"member":..,"scheduled_at":..}`. */
  writeFailover(value: { leader?: string; member?: string; scheduled_at?: string }): Promise<void> {
    return this.#put('writing failover', 'failover', pythonJson(value));
  }

  /** Clears a handled or invalid failover request by writing `{}` (CAS when the revision is known). */
  clearFailover(modRevision: number | null): Promise<boolean> {
    return this.#cas('clearing failover', 'failover', '{}', modRevision);
  }

  /**
   * `sync` = `{"leader":..,"sync_standby":"a,b"}` (3.0.2 layout, names sorted); CAS on mod_revision, or
   * create-only when there was none. `standbys` null deletes the key (sync mode turned off).
   */
  async writeSync(
    leader: string,
    standbys: readonly string[] | null,
    modRevision: number | null,
  ): Promise<boolean> {
    const key = this.#key('sync');
    if (standbys === null) {
      if (modRevision === null) return true;
      return this.#txn(
        'deleting sync',
        [{ key, target: 'Mod', result: 'Equal', mod_revision: modRevision }],
        [{ request_delete_range: { key } }],
      );
    }
    const sorted = [...standbys].sort();
    const value = pythonJson({ leader, sync_standby: sorted.length ? sorted.join(',') : null });
    return this.#cas('writing sync', 'sync', value, modRevision ?? 0);
  }
}
