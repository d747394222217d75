import { Etcd3, type Watcher } from 'etcd3';
import { PooledWriters, type PooledSample } from '../lib/pooled-writers.js';

/** What an outside client sees: a routed writer, one direct writer per node, and a watcher on etcd. */
export interface KeyEvent {
  at: number;
  /** `leader`, `members/<name>`... relative to the cluster prefix. */
  key: string;
  /** null for a delete. */
  value: string | null;
}

const WRITE_SQL = 'INSERT INTO bench_writes DEFAULT VALUES RETURNING id, inet_server_port() AS port';
export const CREATE_SQL =
  'CREATE TABLE IF NOT EXISTS bench_writes (id bigserial primary key, at timestamptz default now())';

/**
 * The outside observer of one cluster: every 10 ms an INSERT through the routed endpoint and, on separate
 * connections, an INSERT directly to every node; etcd's leader and member keys watched (the only view into
 * the HA layer, and one any client could have). Nothing reads agent or router logs.
 */
export class OutsideObserver {
  readonly routed: PooledWriters;
  readonly direct: Map<string, PooledWriters>;
  readonly keys: KeyEvent[] = [];
  #client: Etcd3 | null = null;
  #watcher: Watcher | null = null;

  constructor(
    private readonly o: {
      routedPort: number;
      nodes: readonly { name: string; pgPort: number }[];
      password: string;
      etcdEndpoints: readonly string[];
      prefix: string;
    },
  ) {
    const opts = { password: o.password, sql: WRITE_SQL };
    this.routed = new PooledWriters(o.routedPort, 'postgres', 1, 10, 3_600_000, {
      ...opts,
      queryTimeoutMs: 10_000,
    });
    this.direct = new Map(
      o.nodes.map((n) => [
        n.name,
        new PooledWriters(n.pgPort, 'postgres', 1, 10, 3_600_000, { ...opts, queryTimeoutMs: 5_000 }),
      ]),
    );
  }

  async start(): Promise<void> {
    this.#client = new Etcd3({ hosts: [...this.o.etcdEndpoints] });
    const prefix = this.o.prefix;
    this.#watcher = await this.#client.watch().prefix(prefix).create();
    this.#watcher.on('put', (kv) =>
      this.keys.push({
        at: Date.now(),
        key: kv.key.toString().slice(prefix.length),
        value: kv.value.toString(),
      }),
    );
    this.#watcher.on('delete', (kv) =>
      this.keys.push({ at: Date.now(), key: kv.key.toString().slice(prefix.length), value: null }),
    );
    this.routed.start();
    for (const w of this.direct.values()) w.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.routed.stop(), ...[...this.direct.values()].map((w) => w.stop())]);
    await this.#watcher?.cancel();
    this.#client?.close();
  }

  /** Every acknowledged id (routed and direct), for the lost-write count. */
  ackedIds(): number[] {
    const all = [this.routed, ...this.direct.values()].flatMap((w) => w.samples);
    return all.filter((s) => s.port !== null && s.id !== undefined).map((s) => s.id as number);
  }

  directSamples(name: string): readonly PooledSample[] {
    return this.direct.get(name)?.samples ?? [];
  }
}

/** One event's timeline, every time in ms since the request (null: not seen). */
export interface Timeline {
  kind: string;
  from: string;
  to: string | null;
  /** Wall-clock time of the request / kill. */
  at: number;
  oldUnwritable: number | null;
  keyReleased: number | null;
  keyTaken: number | null;
  promoted: number | null;
  writable: number | null;
  routed: number | null;
  /** Last direct ack on the old primary → first direct ack on the new one. */
  noWritableMs: number | null;
  /** Last routed ack before the event → first routed ack on the new primary. */
  routedOutageMs: number | null;
  /** Direct acks on the old primary after the new primary's first direct ack (two writable nodes). */
  overlapAcks: number;
}

/** A silence longer than this on the old primary's direct writer ends its writable period. */
const GAP_MS = 100;

const acks = (s: readonly PooledSample[]) => s.filter((x) => x.port !== null);

/**
 * Pure: the timeline of one event from the outside samples between `at` and `until`. `ports` maps node
 * names to PostgreSQL ports (routed acks name the committing server).
 */
export function timelineOf(input: {
  kind: string;
  from: string;
  at: number;
  until: number;
  direct: ReadonlyMap<string, readonly PooledSample[]>;
  routed: readonly PooledSample[];
  keys: readonly KeyEvent[];
  ports: ReadonlyMap<string, number>;
}): Timeline {
  const { at, until } = input;
  const rel = (t: number | null | undefined) => (t === null || t === undefined ? null : t - at);
  const oldAcks = acks(input.direct.get(input.from) ?? []).filter((s) => s.doneAt <= until);
  // The old primary's last ack: the one before its first silence of more than GAP_MS after the request
  // (a crashed primary that restarts in place acks again after that silence).
  let lastOld: number | null = oldAcks.filter((s) => s.doneAt < at).at(-1)?.doneAt ?? null;
  for (const s of oldAcks.filter((x) => x.doneAt >= at)) {
    if (lastOld !== null && s.doneAt - lastOld > GAP_MS) break;
    lastOld = s.doneAt;
  }
  // The new primary: the node (the old one too, restarted) with the earliest direct ack after that.
  let to: string | null = null;
  let writableAt: number | null = null;
  for (const [name, samples] of input.direct) {
    const first = acks(samples).find((s) => s.doneAt > (lastOld ?? at) && s.doneAt <= until);
    if (name === input.from && first && lastOld !== null && first.doneAt - lastOld <= GAP_MS) continue;
    if (first && (writableAt === null || first.doneAt < writableAt)) {
      writableAt = first.doneAt;
      to = name;
    }
  }
  const overlapAcks =
    writableAt === null || to === input.from ? 0 : oldAcks.filter((s) => s.doneAt > writableAt).length;
  const keys = input.keys.filter((k) => k.at >= at && k.at <= until);
  const released = keys.find((k) => k.key === 'leader' && (k.value === null || k.value !== input.from));
  const taken = keys.find((k) => k.key === 'leader' && k.value !== null && k.value !== input.from);
  const promoted = to
    ? keys.find((k) => k.key === `members/${to}` && /"role":\s*"(master|primary)"/.test(k.value ?? ''))
    : undefined;
  const toPort = to ? input.ports.get(to) : undefined;
  const routedAcks = acks(input.routed).filter((s) => s.doneAt <= until);
  let routedLast: number | null = routedAcks.filter((s) => s.doneAt < at).at(-1)?.doneAt ?? null;
  for (const s of routedAcks.filter((x) => x.doneAt >= at)) {
    if (routedLast !== null && s.doneAt - routedLast > GAP_MS) break;
    routedLast = s.doneAt;
  }
  const routedFirst = routedAcks.find((s) => s.port === toPort && s.doneAt > (routedLast ?? at));
  return {
    kind: input.kind,
    from: input.from,
    to,
    at,
    oldUnwritable: rel(lastOld),
    keyReleased: rel(released?.at),
    keyTaken: rel(taken?.at),
    promoted: rel(promoted?.at),
    writable: rel(writableAt),
    routed: rel(routedFirst?.doneAt),
    noWritableMs: writableAt !== null && lastOld !== null ? Math.max(0, writableAt - lastOld) : null,
    routedOutageMs: routedFirst && routedLast !== null ? Math.max(0, routedFirst.doneAt - routedLast) : null,
    overlapAcks,
  };
}

const cell = (v: number | null) => (v === null ? '–' : String(v)).padStart(7);

export const TIMELINE_HEADER = `${'event'.padEnd(26)}${['unwrit', 'release', 'taken', 'promote', 'writabl', 'routed', 'no-wr', 'r-out'].map((h) => h.padStart(7)).join('')}`;

/** One line: ms since the request for each step, then the two windows. */
export function timelineLine(t: Timeline): string {
  return `${`${t.kind} ${t.from}→${t.to ?? '?'}`.padEnd(26)}${[
    t.oldUnwritable,
    t.keyReleased,
    t.keyTaken,
    t.promoted,
    t.writable,
    t.routed,
    t.noWritableMs,
    t.routedOutageMs,
  ]
    .map(cell)
    .join('')}${t.overlapAcks ? `  ${t.overlapAcks} acks on the old primary after the new one's first` : ''}`;
}
