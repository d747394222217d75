/** One ARP probe: does another host answer for the VIP within `windowMs`? */
export type HandoverProbe = (windowMs: number) => Promise<{ isInUse: boolean; otherMac: string | null }>;

export interface HandoverOptions {
  readonly probe: HandoverProbe;
  readonly windowMs: number;
  readonly maxWaitMs: number;
  readonly now: () => number;
  /** True once a newer view arrived: stop probing, the next cycle decides again. */
  readonly isSuperseded: () => boolean;
}

export type HandoverOutcome =
  | { readonly kind: 'free'; readonly waitedMs: number; readonly probes: number }
  | {
      readonly kind: 'timeout';
      readonly waitedMs: number;
      readonly probes: number;
      readonly otherMac: string | null;
    }
  | { readonly kind: 'superseded'; readonly waitedMs: number; readonly probes: number };

/** Pause after an early answer, so a host still holding the VIP is not asked in a tight loop. */
const ANSWERED_PAUSE_MS = 2;

/**
 * Waits until no other host answers ARP for the VIP: the old holder has removed it. Probes back to back
 * (each waits up to `windowMs` for an answer), bounded by `maxWaitMs` in time and by the matching count.
 */
export async function awaitHandover(o: HandoverOptions): Promise<HandoverOutcome> {
  const started = o.now();
  const maxProbes = Math.ceil(o.maxWaitMs / Math.max(1, o.windowMs)) + 1;
  let otherMac: string | null = null;
  let probes = 0;
  while (probes < maxProbes) {
    if (o.isSuperseded()) return { kind: 'superseded', waitedMs: o.now() - started, probes };
    const result = await o.probe(o.windowMs);
    probes++;
    if (!result.isInUse) return { kind: 'free', waitedMs: o.now() - started, probes };
    otherMac = result.otherMac;
    if (o.now() - started >= o.maxWaitMs) break;
    await new Promise((r) => setTimeout(r, ANSWERED_PAUSE_MS));
  }
  return { kind: 'timeout', waitedMs: o.now() - started, probes, otherMac };
}
