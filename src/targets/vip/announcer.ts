import type { Logger } from 'pino';
import { describeError } from '../../errors.js';
import type { RawArpSender } from './rawsender.js';
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
