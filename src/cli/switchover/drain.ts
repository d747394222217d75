import { randomUUID } from 'node:crypto';
import type { Etcd3, Lease } from 'etcd3';
import { connectEtcd, translateEtcdError, type EtcdConnection } from '../../dcs/connect.js';
import { drainKey, waitForDrain, type Drain } from '../../dcs/drain.js';

/**
 * The command's side of the stop handshake (`src/dcs/drain.ts`): arm the key for the leader on a lease
 * of its own, learn when the leader's hook says `stopping`, answer `paused`, delete the key at the end.
 */
export class StopHandshake {
  private lease: Lease | null = null;
  private drain: Drain | null = null;
  private stoppingSeen: Promise<boolean> | null = null;

  private constructor(
    private readonly client: Etcd3,
    private readonly key: string,
  ) {}

  static async open(conn: EtcdConnection, namespace: string, scope: string): Promise<StopHandshake> {
    return new StopHandshake(await connectEtcd(conn), drainKey(namespace, scope));
  }

  /** Arms the handshake for `leader` until `expiresAt` (the key's lease lasts a few seconds longer). */
  async arm(leader: string, expiresAt: number): Promise<void> {
    const ttl = Math.ceil((expiresAt - Date.now()) / 1000) + 5;
    this.drain = { version: 1, id: randomUUID(), leader, state: 'armed', expires_at: expiresAt };
    try {
      this.lease = this.client.lease(ttl, { autoKeepAlive: false });
      await this.lease.put(this.key).value(JSON.stringify(this.drain)).exec();
    } catch (err) {
      throw translateEtcdError(err, `arming ${this.key}`);
    }
  }

  /**
   * Resolves true once the leader's hook said `stopping` for this handshake, false when the key went
   * away or was taken over, or `timeoutMs` passed. Started once; later calls share the same wait.
   */
  stopping(timeoutMs: number): Promise<boolean> {
    const id = this.drain?.id;
    this.stoppingSeen ??= waitForDrain(
      this.client,
      this.key,
      (d) => d === null || d.id !== id || d.state === 'stopping',
      timeoutMs,
    ).then(
      (o) => o.isMet && o.drain?.id === id,
      () => false,
    );
    return this.stoppingSeen;
  }

  /** Tells the hook the databases are paused: it returns and Patroni stops PostgreSQL. */
  async paused(): Promise<void> {
    if (!this.drain) return;
    this.drain = { ...this.drain, state: 'paused' };
    try {
      await this.client.put(this.key).value(JSON.stringify(this.drain)).ignoreLease().exec();
    } catch (err) {
      throw translateEtcdError(err, `answering ${this.key}`);
    }
  }

  /** Deletes the key (when it is still ours) and the lease; never throws. */
  async close(): Promise<void> {
    await this.lease?.revoke().catch(() => undefined);
    this.client.close();
  }
}
