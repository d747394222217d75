import { monotonicMs } from '../../src/dcs/lease.js';
import type { PeerStatus } from '../ha/types.js';

/**
 * What a planned switchover does early, while the old primary still accepts writes and before the HA loop
 * decides: `POST /switchover` naming this leader starts the CHECKPOINT that keeps the shutdown checkpoint
 * short (it runs while the `/failover` key is written and the loop wakes up), and keeps the members' REST
 * answers it checked the request against, so the loop's own check of the same candidates does not ask
 * them again a few ms later. Both are used once, and only while at most `maxAgeMs` old; the loop asks the
 * members itself otherwise. A CHECKPOINT changes nothing a client sees: one started for a request that is
 * then refused costs I/O only.
 */
export class HandoverPrep {
  #checkpoint: { at: number; done: Promise<void> } | null = null;
  #peers: { at: number; peers: ReadonlyMap<string, PeerStatus> } | null = null;

  constructor(
    private readonly runCheckpoint: () => Promise<unknown>,
    readonly maxAgeMs = 1000,
    private readonly now: () => number = monotonicMs,
  ) {}

  /** Starts a CHECKPOINT unless one started within `maxAgeMs` (in flight or just done). */
  startCheckpoint(): void {
    if (this.#checkpoint && this.now() - this.#checkpoint.at <= this.maxAgeMs) return;
    const done = this.runCheckpoint().then(() => undefined);
    done.catch(() => undefined); // awaited (and its error logged) by the handover that takes it
    this.#checkpoint = { at: this.now(), done };
  }

  /** The early CHECKPOINT (in flight or done) when it started within `maxAgeMs`; null otherwise. Used once. */
  takeCheckpoint(): Promise<void> | null {
    const c = this.#checkpoint;
    this.#checkpoint = null;
    return c && this.now() - c.at <= this.maxAgeMs ? c.done : null;
  }

  /** The members' answers to `GET /patroni` a switchover request was just checked against. */
  notePeers(peers: ReadonlyMap<string, PeerStatus>): void {
    this.#peers = { at: this.now(), peers };
  }

  /** Those answers when at most `maxAgeMs` old; null otherwise. Used once. */
  takePeers(): ReadonlyMap<string, PeerStatus> | null {
    const p = this.#peers;
    this.#peers = null;
    return p && this.now() - p.at <= this.maxAgeMs ? p.peers : null;
  }
}
