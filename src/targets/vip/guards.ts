import type { Logger } from 'pino';
import type { RouteSnapshot } from '../types.js';
import type { VipConfig } from './config.js';
import type { Exec } from './exec.js';
import { awaitHandover } from './handover.js';
import { probeDuplicate } from './probe.js';
import type { AnnounceSenders } from './senders.js';
import type { VipCounters } from './status.js';

export interface TakeGuardDeps {
  readonly config: VipConfig;
  readonly exec: Exec;
  readonly senders: AnnounceSenders;
  readonly counters: VipCounters;
  readonly log: Logger;
  readonly now: () => number;
  /** The snapshot the target last received: a new one means a newer view is queued. */
  readonly snapshot: () => RouteSnapshot | null;
  readonly isClosed: () => boolean;
  readonly ownMac: () => string | null;
}

/**
 * What the VIP target asks the link before adding the address: the optional duplicate probe
 * (`duplicate_probe`, arping, may wait across cycles) and the handover check (`handover`, on by
 * default: the previous holder must have dropped the VIP). Each returns a sentence when the take must
 * not happen in this cycle, else null.
 */
export class TakeGuards {
  private conflictSince: number | null = null;

  constructor(private readonly d: TakeGuardDeps) {}

  clearConflict(): void {
    this.conflictSince = null;
  }

  /**
   * Waits (bounded by `handover.max_wait_ms`) until no other host answers ARP for the VIP, so the old
   * holder has dropped it before this host adds and announces it — also when the leader key was
   * overwritten in one write and both routers act on the same event. Probes come from the resident
   * helper (one frame, `probe_ms` for an answer), or arping when the helper is unavailable. IPv4 only;
   * skipped when the duplicate probe already asked the link.
   */
  async handover(): Promise<string | null> {
    const { config } = this.d;
    const h = config.handover;
    const vip = config.address;
    if (!h.enabled || vip.family !== 4 || config.duplicate_probe.enabled) return null;
    const snapshot = this.d.snapshot();
    const raw = await this.d.senders.rawSender().catch(() => null);
    const flavour = raw ? 'habets' : await this.d.senders.arpingFlavour();
    const outcome = await awaitHandover({
      windowMs: raw ? h.probe_ms : Math.max(100, h.probe_ms),
      maxWaitMs: h.max_wait_ms,
      now: this.d.now,
      isSuperseded: () => this.d.snapshot() !== snapshot || this.d.isClosed(),
      probe: (windowMs) =>
        raw
          ? raw.probe(vip.address, windowMs)
          : probeDuplicate({
              exec: this.d.exec,
              command: config.arping.command,
              flavour,
              iface: config.interface,
              vip,
              timeoutMs: windowMs,
              ownMac: this.d.ownMac(),
            }),
    });
    this.d.counters.handoverProbes += outcome.probes;
    if (outcome.kind === 'superseded') return `a newer view arrived while waiting to take ${vip.cidr}`;
    if (outcome.kind === 'timeout') {
      this.d.counters.handoverTimeouts++;
      this.d.log.warn(
        { otherMac: outcome.otherMac, waitedMs: outcome.waitedMs },
        `${vip.address} still answers ARP from ${outcome.otherMac ?? 'another host'} after ${outcome.waitedMs} ms (handover.max_wait_ms); taking it anyway`,
      );
    } else if (outcome.probes > 1) {
      this.d.log.info(`waited ${outcome.waitedMs} ms for the previous holder to drop ${vip.cidr}`);
    }
    return null;
  }

  /** Duplicate probe before taking; returns a sentence when the target must wait, else null. */
  async checkDuplicate(now: number): Promise<string | null> {
    const { config } = this.d;
    const probe = config.duplicate_probe;
    if (!probe.enabled || config.address.family !== 4) return null;
    const result = await probeDuplicate({
      exec: this.d.exec,
      command: config.arping.command,
      flavour: await this.d.senders.arpingFlavour(),
      iface: config.interface,
      vip: config.address,
      timeoutMs: probe.timeout_ms,
      ownMac: this.d.ownMac(),
    });
    if (!result.isInUse) {
      this.conflictSince = null;
      return null;
    }
    this.d.counters.duplicateConflicts++;
    const who = `${config.address.address} answers ARP from ${result.otherMac ?? 'another host'}`;
    this.d.log.warn({ otherMac: result.otherMac }, `duplicate probe: ${who}`);
    this.conflictSince ??= now;
    const waited = now - this.conflictSince;
    if (probe.on_conflict === 'wait' && (probe.max_wait_ms === 0 || waited < probe.max_wait_ms)) {
      return `waiting to take ${config.address.cidr}: ${who} (conflict for ${waited} ms)`;
    }
    return null;
  }
}
