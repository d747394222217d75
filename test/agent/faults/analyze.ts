/** Pure reading of the fault client's records: the three counts and the failover time. */

export interface AckRecord {
  readonly node: string;
  readonly id: number;
  readonly sent: number;
  readonly ack: number;
}

export interface LeaseRecord {
  /** When the request was sent (ms). */
  readonly at: number;
  readonly holder: string | null;
  readonly lease: string | null;
  /** Remaining TTL in whole seconds, as etcd answers (-1 when the lease is gone). */
  readonly ttl: number | null;
}

/** Width of one sample (the client writes to every node once per 10 ms). */
export const SAMPLE_MS = 10;

export function parseRecords(text: string): { acks: AckRecord[]; leases: LeaseRecord[] } {
  const acks: AckRecord[] = [];
  const leases: LeaseRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue; // a line cut by a kill
    }
    if (o['k'] === 'ack') acks.push(o as unknown as AckRecord);
    else if (o['k'] === 'lease') leases.push(o as unknown as LeaseRecord);
  }
  acks.sort((a, b) => a.ack - b.ack);
  return { acks, leases };
}

/** Acknowledged ids missing from the final primary's table. */
export function lostWrites(acks: readonly AckRecord[], present: ReadonlySet<number>): number[] {
  return acks.filter((a) => !present.has(a.id)).map((a) => a.id);
}

/**
 * Samples (10 ms slots by acknowledgement time) in which two or more nodes acknowledged a write, plus
 * every acknowledgement by a node after another node had acknowledged a later-started leadership: each
 * ack of node X that falls inside [first, last] ack of another node Y's run counts once. A clean failover
 * (A…A then B…B) counts 0.
 */
export function doubleWritableSamples(acks: readonly AckRecord[]): number {
  const slots = new Map<number, Set<string>>();
  for (const a of acks) {
    const slot = Math.floor(a.ack / SAMPLE_MS);
    const set = slots.get(slot) ?? new Set<string>();
    set.add(a.node);
    slots.set(slot, set);
  }
  let samples = 0;
  for (const set of slots.values()) if (set.size >= 2) samples++;
  // Interleaving across slots: a run is a maximal sequence of consecutive acks from one node.
  const runs: { node: string; first: number; last: number }[] = [];
  for (const a of acks) {
    const last = runs.at(-1);
    if (last && last.node === a.node) last.last = a.ack;
    else runs.push({ node: a.node, first: a.ack, last: a.ack });
  }
  const seen = new Set<string>();
  let interleaved = 0;
  for (const r of runs) {
    if (seen.has(r.node)) interleaved++; // a node accepting writes again after another one did
    seen.add(r.node);
  }
  return Math.max(samples, interleaved);
}

export interface Failover {
  readonly oldPrimary: string;
  readonly newPrimary: string | null;
  readonly lastAckOld: number | null;
  readonly firstAckNew: number | null;
  /** Client-measured: last ack on the old primary → first ack on the new one (null: no failover). */
  readonly failoverMs: number | null;
}

/** The failover seen by the client after `faultAt`: the old primary is the node acking just before it. */
export function failoverOf(acks: readonly AckRecord[], oldPrimary: string): Failover {
  const old = acks.filter((a) => a.node === oldPrimary);
  const lastAckOld = old.at(-1)?.ack ?? null;
  const next = acks.find((a) => a.node !== oldPrimary && (lastAckOld === null || a.ack > lastAckOld));
  return {
    oldPrimary,
    newPrimary: next?.node ?? null,
    lastAckOld,
    firstAckNew: next?.ack ?? null,
    failoverMs: next && lastAckOld !== null ? next.ack - lastAckOld : null,
  };
}

/**
 * The latest moment at which `holder`'s leader key could expire, from the client's lease samples: each
 * sample proves the lease alive until at least `at + ttl s`; the last renewal is the maximum of these.
 * Stops at the first sample after `from` that shows another holder. null when no sample saw `holder`.
 */
export function keyExpiry(leases: readonly LeaseRecord[], holder: string, from = 0): number | null {
  let expiry: number | null = null;
  for (const l of leases) {
    if (l.holder === holder && l.ttl !== null && l.ttl >= 0)
      expiry = Math.max(expiry ?? 0, l.at + l.ttl * 1000);
    else if (l.at >= from && l.holder !== null && l.holder !== holder) break;
  }
  return expiry;
}

/** Longest gap between consecutive acknowledgements (any node) inside [from, to], ms. */
export function longestGap(acks: readonly AckRecord[], from: number, to: number): number {
  let worst = 0;
  let prev = from;
  for (const a of acks) {
    if (a.ack < from || a.ack > to) continue;
    worst = Math.max(worst, a.ack - prev);
    prev = a.ack;
  }
  return Math.max(worst, to - prev);
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** What the client's records say about one fault window, old primary `oldPrimary`. */
export interface FaultJudgement {
  readonly acked: number;
  readonly lost: number[];
  readonly doubleWritable: number;
  /** The old primary's last acknowledgement between the fault and the heal, ms (null: none). */
  readonly lastAckOldDuringFault: number | null;
  readonly keyExpiry: number | null;
  readonly failover: Failover;
  readonly writeGapMs: number;
}

/**
 * Judges one fault from the client's record text and the ids present on the final primary: lost
 * acknowledged writes, double-writable samples, the old primary's last ack against its key expiry, the
 * failover seen within 5 s of the heal, and the longest write gap of the window.
 */
export function judgeFault(
  recordText: string,
  present: ReadonlySet<number>,
  oldPrimary: string,
  window: { readonly faultAt: number; readonly healAt: number },
): FaultJudgement {
  const { acks, leases } = parseRecords(recordText);
  const { faultAt, healAt } = window;
  const during = acks.filter((a) => a.node === oldPrimary && a.ack >= faultAt && a.ack <= healAt);
  return {
    acked: acks.length,
    lost: lostWrites(acks, present),
    doubleWritable: doubleWritableSamples(acks),
    lastAckOldDuringFault: during.at(-1)?.ack ?? null,
    keyExpiry: keyExpiry(leases, oldPrimary, faultAt),
    failover: failoverOf(
      acks.filter((a) => a.ack <= healAt + 5000),
      oldPrimary,
    ),
    writeGapMs: longestGap(acks, faultAt, healAt),
  };
}
