import type { Logger } from 'pino';
import { describeError } from '../../errors.js';
import type { PgBouncerConfig } from './config.js';
import type { LiveDatabase, PgBouncerAdmin } from './control.js';
import { isMarkerLive, isOwnMarker, readMarker } from './marker.js';
import { clusterOfDatabase, foreignResumeReason, isRoutedTo, writeDatabases, type Wants } from './routes.js';

export interface HeldPause {
  readonly cluster: string;
  readonly since: number;
}

/**
 * The PgBouncer pauses of one target: the ones it holds (PAUSE/KILL on leader loss, RESUME once routed,
 * never longer than `timeouts.max_pause_ms`) and the ones it found (a dead router's or switchover's),
 * resumed unless a live switchover's marker (marker.ts) holds them. Acts through the admin console; the
 * caller serialises every call (one admin command at a time).
 */
export class Pauses {
  readonly held = new Map<string, HeldPause>();
  /** Paused databases this target did not pause, with when it first saw them. */
  readonly foreign = new Map<string, number>();
  /** Clusters whose pause expired without a writable leader: not fenced again until one appears. */
  readonly gaveUp = new Set<string>();

  constructor(
    private readonly config: PgBouncerConfig,
    private readonly output: string,
    private readonly control: PgBouncerAdmin,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  /**
   * Clusters whose write databases a live `switchyard switchover` of another process holds (its marker).
   * The command owns them until it ends or its marker goes stale: it pauses, may point them at the new
   * leader before this router's view has seen the old one stop, and resumes them. So this target neither
   * pauses nor repoints them meanwhile, and hands over its own hold on them (a stale marker then lets
   * `resumeReady` resume them as a gone switchover's). It resumes them only once they point at a leader
   * it sees writable that is not the one the switchover leaves (the marker's `from`).
   */
  async yieldedToSwitchover(): Promise<Set<string>> {
    const marker = await readMarker(this.output);
    const clusters = new Set<string>();
    if (!marker || isOwnMarker(marker)) return clusters;
    const now = this.now();
    for (const [db, cluster] of clusterOfDatabase(this.config)) {
      if (!isMarkerLive(marker, db, now)) continue;
      clusters.add(cluster);
      const held = this.held.get(db);
      if (held) {
        this.held.delete(db);
        this.foreign.set(db, held.since);
      }
    }
    return clusters;
  }

  /** PAUSE the cluster's write databases (KILL when PAUSE stalls); already paused ones are taken over. */
  async fence(cluster: string, live: Map<string, LiveDatabase>, parts: string[]): Promise<void> {
    const now = this.now();
    const dbs = writeDatabases(this.config, cluster).filter((d) => live.has(d) && !this.held.has(d));
    const sentences = await Promise.all(
      dbs.map(async (db): Promise<string | null> => {
        const current = live.get(db) as LiveDatabase;
        if (current.isPaused) {
          this.held.set(db, { cluster, since: this.foreign.get(db) ?? now });
          this.foreign.delete(db);
          return null;
        }
        const outcome = await this.control.pause(db, this.config.timeouts.pause_ms);
        let sentence = `paused ${db} (${outcome.ms} ms)`;
        if (!outcome.isPaused) {
          await this.control.kill(db);
          sentence = `killed ${db} (PAUSE stalled after ${outcome.stalledAfterMs} ms)`;
        }
        this.held.set(db, { cluster, since: now });
        live.set(db, { ...current, isPaused: true });
        return sentence;
      }),
    );
    for (const s of sentences) if (s) parts.push(s);
  }

  /** RESUME paused databases whose cluster is routed to a writable leader, and stale foreign pauses. */
  async resumeReady(
    wants: Wants,
    live: ReadonlyMap<string, LiveDatabase>,
    isFresh: boolean,
    parts: string[],
  ): Promise<void> {
    const now = this.now();
    const marker = await readMarker(this.output);
    for (const [db, cluster] of clusterOfDatabase(this.config)) {
      const isPaused = live.get(db)?.isPaused ?? false;
      const want = wants.get(cluster);
      const held = this.held.get(db);
      const isRouted = want ? isRoutedTo(live.get(db), want, this.config.databases[db]?.dbname ?? db) : false;
      if (held) {
        if (!isPaused) this.held.delete(db);
        // Only once PgBouncer routes it there: not while the routing file waits for a running switchover.
        else if (isRouted) {
          await this.control.resume(db);
          this.held.delete(db);
          parts.push(`resumed ${db} after ${now - held.since} ms`);
        }
        continue;
      }
      if (!isPaused) {
        this.foreign.delete(db);
        continue;
      }
      if (isMarkerLive(marker, db, now)) {
        // The switchover's goal, reached: it points at a writable leader other than the one it leaves.
        if (marker?.from !== undefined && want && want.member !== marker.from && isRouted) {
          await this.control.resume(db);
          this.foreign.delete(db);
          parts.push(
            `resumed ${db} (its switchover routed it to the writable leader ${want.member ?? want.host})`,
          );
        }
        continue;
      }
      const firstSeen = this.foreign.get(db) ?? now;
      this.foreign.set(db, firstSeen);
      const why = foreignResumeReason({
        isFresh,
        isInMarker: marker?.databases.includes(db) ?? false,
        pausedForMs: now - firstSeen,
        maxPauseMs: this.config.timeouts.max_pause_ms,
      });
      if (why && want !== null) {
        await this.control.resume(db);
        this.foreign.delete(db);
        parts.push(`resumed ${db} (${why})`);
      }
    }
  }

  /**
   * At start, before any snapshot (etcd unreachable): RESUME every configured database that is paused
   * and not held by a live switchover — a killed router must never leave PgBouncer paused. Returns the
   * databases still held by a live switchover's marker (to look again later).
   */
  async resumeFoundAtStart(parts: string[]): Promise<string[]> {
    const live = await this.control.showDatabases();
    const marker = await readMarker(this.output);
    const stillHeld: string[] = [];
    for (const db of clusterOfDatabase(this.config).keys()) {
      if (!live.get(db)?.isPaused || this.held.has(db)) continue;
      if (isMarkerLive(marker, db, this.now())) {
        stillHeld.push(db);
        continue;
      }
      await this.control.resume(db);
      this.foreign.delete(db);
      parts.push(`resumed ${db} (found paused at start, before any etcd read)`);
    }
    return stillHeld;
  }

  /** Our pauses never outlive max_pause_ms: without a writable leader by then, clients get the truth (errors). */
  async expire(wants: Wants | null, parts: string[]): Promise<void> {
    const now = this.now();
    for (const [db, held] of [...this.held]) {
      if (now - held.since < this.config.timeouts.max_pause_ms) continue;
      if (wants && wants.get(held.cluster)) continue;
      await this.control.resume(db);
      this.held.delete(db);
      this.gaveUp.add(held.cluster);
      const sentence = `resumed ${db} after ${now - held.since} ms without a writable leader (timeouts.max_pause_ms)`;
      parts.push(sentence);
      this.log.warn({ database: db }, sentence);
    }
  }

  /** When the earliest held pause expires (epoch ms), or null when none is held. */
  nextExpiry(): number | null {
    if (this.held.size === 0) return null;
    return Math.min(...[...this.held.values()].map((h) => h.since)) + this.config.timeouts.max_pause_ms;
  }

  /** RESUME everything this target holds (close: never leave PgBouncer paused). */
  async releaseAll(): Promise<void> {
    for (const db of [...this.held.keys()]) {
      try {
        await this.control.resume(db);
        this.log.info({ database: db }, `resumed ${db} on close`);
      } catch (err) {
        this.log.error({ database: db, err: describeError(err) }, `could not resume ${db} on close`);
      }
    }
    this.held.clear();
  }
}
