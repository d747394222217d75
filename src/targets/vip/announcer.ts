import type { Logger } from 'pino';
import { describeError } from '../../errors.js';
import type { RawArpSender } from './rawsender.js';
import type { VipConfig } from './config.js';
import type { Exec } from './exec.js';
import type { AnnounceSenders } from './senders.js';
import type { VipCounters } from './status.js';
import {
  announce,
  plannedFrames,
  type AnnounceOptions,
  type AnnounceResult,
  type ArpingFlavour,
} from './announce.js';

export interface AnnouncerOptions extends Omit<AnnounceOptions, 'count' | 'signal' | 'arping' | 'rawSender'> {
  readonly arpingCommand: string;
  readonly flavour: () => Promise<ArpingFlavour>;
  readonly log: Logger;
  readonly onSent: (result: AnnounceResult) => void;
  readonly onFailed: (error: unknown) => void;
  /** The resident IPv4 sender, or null for arping; resolves once it is started (or has failed over to arping). */
  readonly rawSender: () => Promise<RawArpSender | null>;
}

/**
 * Runs announcement bursts in the background, one at a time. A release must never wait for a burst
 * (arping takes ~100 ms for 5 frames) and no frame may leave after the VIP is gone, so `stop()` kills
 * the burst in flight and resolves once its processes have exited.
 */
export class Announcer {
  private current: { controller: AbortController; done: Promise<void> } | null = null;

  constructor(private readonly options: AnnouncerOptions) {}

  get isRunning(): boolean {
    return this.current !== null;
  }

  /** Stops any burst in flight, starts one of `count` frames of each kind, returns what it will send. */
  async start(count: number): Promise<string> {
    await this.stop();
    const rawSender = this.options.vip.family === 4 ? await this.options.rawSender() : null;
    const flavour = this.options.vip.family === 4 && !rawSender ? await this.options.flavour() : 'habets';
    const controller = new AbortController();
    const done = announce({
      ...this.options,
      count,
      arping: { command: this.options.arpingCommand, flavour },
      signal: controller.signal,
      rawSender,
    }).then(
      (result) => {
        if (!controller.signal.aborted) this.options.onSent(result);
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        this.options.log.warn({ err: describeError(err) }, 'announcement failed');
        this.options.onFailed(err);
      },
    );
    const entry = {
      controller,
      done: done.finally(() => (this.current === entry ? (this.current = null) : undefined)),
    };
    this.current = entry;
    return plannedFrames(this.options.vip, count);
  }

  /** Kills the burst in flight, if any, and waits for it to end. */
  async stop(): Promise<void> {
    const current = this.current;
    if (!current) return;
    current.controller.abort();
    await current.done;
  }

  /** Resolves when the burst in flight (if any) has ended, without stopping it. */
  async settled(): Promise<void> {
    await this.current?.done;
  }
}

export interface BurstOptions {
  readonly config: VipConfig;
  readonly exec: Exec;
  readonly senders: AnnounceSenders;
  readonly counters: VipCounters;
  readonly log: Logger;
  /** Runs work in the target's one-at-a-time queue. */
  readonly serialize: (fn: () => Promise<void>) => Promise<void>;
  /** The second burst only goes out while the VIP is still held and the target open. */
  readonly isHolding: () => boolean;
  readonly onFailed: (error: unknown) => void;
}

/**
 * The VIP target's announcements: a first burst at every take (in the background) and keepalived's
 * second burst `repeat_delay_ms` later, for gear that missed the first. `needsAnnounce` stays true until
 * a burst went out.
 */
export class AnnounceBursts {
  readonly announcer: Announcer;
  needsAnnounce = false;
  private repeatTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: BurstOptions) {
    const { config } = o;
    this.announcer = new Announcer({
      exec: o.exec,
      iface: config.interface,
      vip: config.address,
      intervalMs: config.announce.interval_ms,
      timeoutMs: config.command_timeout_ms,
      arpingCommand: config.arping.command,
      ndptool: config.ndptool.command,
      flavour: () => o.senders.arpingFlavour(),
      rawSender: () => o.senders.rawSender(),
      log: o.log,
      onSent: (result) => {
        this.needsAnnounce = false;
        o.counters.announcements++;
        o.counters.framesSent += result.frames;
        o.log.debug(`announced ${config.address.cidr} on ${config.interface} (${result.description})`);
      },
      onFailed: (err) => {
        o.counters.announceFailures++;
        o.onFailed(err);
      },
    });
  }

  /** Starts the first burst in the background and schedules the second; returns what the first sends. */
  async start(): Promise<string> {
    this.needsAnnounce = true;
    const frames = await this.announcer.start(this.o.config.announce.count);
    this.scheduleRepeat();
    return frames;
  }

  /** Stops the burst in flight and forgets the second one (a release, or close). */
  async stop(): Promise<void> {
    this.cancelRepeat();
    this.needsAnnounce = false;
    await this.announcer.stop();
  }

  cancelRepeat(): void {
    if (this.repeatTimer) clearTimeout(this.repeatTimer);
    this.repeatTimer = null;
  }

  private scheduleRepeat(): void {
    const { repeat_count: count, repeat_delay_ms: delay } = this.o.config.announce;
    this.cancelRepeat();
    if (count === 0 || !this.o.isHolding()) return;
    this.repeatTimer = setTimeout(() => {
      this.repeatTimer = null;
      void this.o
        .serialize(async () => {
          if (!this.o.isHolding()) return;
          await this.announcer.settled();
          await this.announcer.start(count);
        })
        .catch((err: unknown) => this.o.log.warn({ err: describeError(err) }, 'second announcement failed'));
    }, delay);
    this.repeatTimer.unref();
  }
}
