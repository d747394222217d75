import type { DcsLossPolicy, DcsState } from './policy.js';

/** Monotonic counters, for /status and for the metrics the router registers from them. */
export interface VipCounters {
  /** The VIP was added because this member became leader. */
  takes: number;
  /** The VIP was removed (leader moved, DCS policy, stale at start, shutdown). */
  releases: number;
  /** The VIP was re-added after something else removed it while this member led. */
  repairs: number;
  /** Completed announcement bursts. */
  announcements: number;
  /** Announcement bursts that failed. */
  announceFailures: number;
  /** ARP/NA frames sent in all bursts. */
  framesSent: number;
  /** Duplicate probes that found another host answering for the VIP. */
  duplicateConflicts: number;
  /** ARP probes sent before takes, waiting for the previous holder to drop the VIP. */
  handoverProbes: number;
  /** Takes that went ahead because another host still answered after `handover.max_wait_ms`. */
  handoverTimeouts: number;
  /** Cycles that ended in an error. */
  errors: number;
}

export function emptyCounters(): VipCounters {
  return {
    takes: 0,
    releases: 0,
    repairs: 0,
    announcements: 0,
    announceFailures: 0,
    framesSent: 0,
    duplicateConflicts: 0,
    handoverProbes: 0,
    handoverTimeouts: 0,
    errors: 0,
  };
}

/** What the VIP target shows in /status. Holds no secrets. */
export interface VipStatus extends Record<string, unknown> {
  address: string;
  interface: string;
  member: string;
  cluster: string;
  isHeld: boolean;
  heldSince: string | null;
  decision: 'hold' | 'release' | null;
  reason: string | null;
  dcsPolicy: DcsLossPolicy;
  dcsState: DcsState | null;
  arpingFlavour: string | null;
  /** What sends the announcements: `python` (resident helper), `arping`, or `ndptool` (IPv6). */
  arpSender: 'python' | 'arping' | 'ndptool';
  lastSummary: string;
  lastError: string | null;
  counters: VipCounters;
}
