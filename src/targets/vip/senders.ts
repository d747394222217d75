import type { Logger } from 'pino';
import { describeError } from '../../errors.js';
import { detectArpingFlavour, type ArpingFlavour } from './announce.js';
import type { VipConfig } from './config.js';
import type { Exec } from './exec.js';
import type { RawArpSender } from './rawsender.js';

export type CreateRawSender = (iface: string, python: string, startTimeoutMs: number) => RawArpSender | null;

/**
 * Which program sends the announcements, decided once: for IPv4 the resident raw-socket helper
 * (`announce.sender: python`, or `auto` while it starts), else arping (its flavour detected once);
 * for IPv6 ndptool. `warmUp()` (from the target's `start()`; construction starts nothing) starts both,
 * so the first take waits for neither.
 */
export class AnnounceSenders {
  private readonly raw: RawArpSender | null;
  private rawState: 'unknown' | 'ready' | 'failed' = 'unknown';
  private flavour: ArpingFlavour | null;

  constructor(
    private readonly config: VipConfig,
    private readonly exec: Exec,
    private readonly log: Logger,
    createRawSender: CreateRawSender,
  ) {
    const isV4 = config.address.family === 4;
    const sender = config.announce.sender;
    this.flavour = config.arping.flavour === 'auto' ? null : config.arping.flavour;
    this.raw =
      isV4 && sender !== 'arping'
        ? createRawSender(config.interface, config.announce.python_command, config.command_timeout_ms)
        : null;
  }

  /** Starts the resident helper and detects the arping flavour in the background. */
  warmUp(): void {
    const isV4 = this.config.address.family === 4;
    if (this.raw) this.rawSender().catch(() => undefined);
    if (isV4 && this.config.announce.sender !== 'python' && this.flavour === null)
      this.arpingFlavour().catch(() => undefined);
  }

  /** What sends IPv4/IPv6 frames right now, for /status. */
  get name(): 'python' | 'arping' | 'ndptool' {
    if (this.config.address.family === 6) return 'ndptool';
    return this.rawState === 'ready' ? 'python' : 'arping';
  }

  get arpingFlavourName(): ArpingFlavour | null {
    return this.flavour;
  }

  /** The resident sender if it runs; with `sender: auto`, null (use arping) once it failed to start. */
  async rawSender(): Promise<RawArpSender | null> {
    if (!this.raw || this.rawState === 'failed') return null;
    try {
      await this.raw.start();
      this.rawState = 'ready';
      return this.raw;
    } catch (err) {
      if (this.config.announce.sender === 'python') throw err;
      this.rawState = 'failed';
      this.log.warn({ err: describeError(err) }, 'ARP helper unavailable; announcing with arping instead');
      return null;
    }
  }

  /** The resident helper if it is running or starting; null (never throws) when it cannot be used. */
  async readyRawSender(): Promise<RawArpSender | null> {
    if (!this.raw || this.rawState === 'failed') return null;
    return this.rawSender().catch(() => null);
  }

  async arpingFlavour(): Promise<ArpingFlavour> {
    this.flavour ??= await detectArpingFlavour(
      this.exec,
      this.config.arping.command,
      this.config.command_timeout_ms,
    );
    return this.flavour;
  }

  close(): void {
    this.raw?.close();
  }
}
