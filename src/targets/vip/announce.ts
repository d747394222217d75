import type { VipAddress } from './config.js';
import type { InterfaceState } from './address.js';
import { firstLine, VipError, type Exec, type ExecResult } from './exec.js';

/** The two incompatible `arping` programs: Debian's `arping` (Thomas Habets) and `iputils-arping`. */
export type ArpingFlavour = 'habets' | 'iputils';

/** Reads the flavour from `arping --help` / `arping -V` output. Pure; null when neither is recognised. */
export function flavourFromText(text: string): ArpingFlavour | null {
  if (/Thomas Habets/i.test(text)) return 'habets';
  if (/iputils/i.test(text)) return 'iputils';
  return null;
}

/** Runs `arping -V` and `arping --help` (either may exit non-zero) and recognises the flavour. */
export async function detectArpingFlavour(
  exec: Exec,
  command: string,
  timeoutMs: number,
): Promise<ArpingFlavour> {
  let seen = '';
  for (const args of [['-V'], ['--help']]) {
    const result = await exec(command, args, timeoutMs);
    seen = `${result.stdout}\n${result.stderr}`;
    const flavour = flavourFromText(seen);
    if (flavour) return flavour;
  }
  throw new VipError(
    'announce',
    `cannot tell which arping ${command} is (neither Thomas Habets' nor iputils in its --help/-V output: ` +
      `${JSON.stringify(seen.trim().slice(0, 120))}); set targets.vip.arping.flavour`,
  );
}

export interface ArpingRun {
  readonly kind: 'request' | 'reply';
  readonly args: readonly string[];
}

/**
 * The arping runs for one gratuitous-ARP burst: `count` requests and `count` replies (some gear only
 * learns from one kind). Habets' arping needs `-S VIP` or it sends from the NIC's primary address. Not
 * quiet (`-q`): the statistics line is how a send is confirmed.
 */
export function garpRuns(
  flavour: ArpingFlavour,
  iface: string,
  vip: VipAddress,
  count: number,
  intervalMs: number,
): ArpingRun[] {
  const seconds = (Math.max(intervalMs, 1) / 1000).toString();
  const c = String(count);
  if (flavour === 'habets') {
    const base = ['-c', c, '-W', seconds, '-i', iface, '-S', vip.address];
    return [
      { kind: 'request', args: ['-U', ...base, vip.address] },
      { kind: 'reply', args: ['-U', '-P', ...base, vip.address] },
    ];
  }
  const base = ['-c', c, '-i', seconds, '-I', iface];
  return [
    { kind: 'request', args: ['-U', ...base, vip.address] },
    { kind: 'reply', args: ['-A', ...base, vip.address] },
  ];
}

/** Frames a finished arping says it sent, or null when its output does not say. */
export function framesSent(flavour: ArpingFlavour, result: ExecResult): number | null {
  const text = `${result.stdout}\n${result.stderr}`;
  const match = flavour === 'habets' ? /(\d+) packets transmitted/.exec(text) : /Sent (\d+) probe/.exec(text);
  return match ? Number(match[1]) : null;
}

/** Refuses interfaces that cannot carry an announcement (loopback, no MAC) with the reason. */
export function assertCanAnnounce(state: InterfaceState, iface: string, vip: VipAddress): void {
  const isLoopback = state.linkType === 'loopback';
  if (isLoopback || state.mac === null || /^(00:)+00$/.test(state.mac)) {
    const what = vip.family === 4 ? 'gratuitous ARP' : 'unsolicited neighbour advertisement';
    throw new VipError(
      'config',
      `cannot announce ${vip.address} on ${iface}: ${isLoopback ? 'loopback' : 'the interface'} has no MAC address ` +
        `(${state.mac ?? 'none'}) for ${what}; put the VIP on an Ethernet interface`,
    );
  }
}

export interface AnnounceOptions {
  readonly exec: Exec;
  readonly iface: string;
  readonly vip: VipAddress;
  readonly count: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly arping: { readonly command: string; readonly flavour: ArpingFlavour };
  readonly ndptool: string;
  /** Stops the burst (the VIP is being released: no frame may follow). */
  readonly signal?: AbortSignal;
  /** A resident raw-socket sender for IPv4; arping when absent. */
  readonly rawSender?: { send(address: string): Promise<number> } | null;
}

export interface AnnounceResult {
  /** Frames sent, all kinds together. */
  readonly frames: number;
  /** For the cycle's sentence: "5 ARP requests + 5 ARP replies" or "5 unsolicited NA". */
  readonly description: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What a burst of `count` will send, for sentences written before it finishes. */
export function plannedFrames(vip: VipAddress, count: number): string {
  return vip.family === 4 ? `${count} ARP requests + ${count} ARP replies` : `${count} unsolicited NA`;
}

/** One burst: gratuitous ARP requests and replies (IPv4) or unsolicited neighbour advertisements (IPv6). */
export async function announce(options: AnnounceOptions): Promise<AnnounceResult> {
  if (options.vip.family === 6) return announceNa(options);
  return options.rawSender ? announceRaw(options, options.rawSender) : announceArp(options);
}

async function announceRaw(
  options: AnnounceOptions,
  sender: { send(address: string): Promise<number> },
): Promise<AnnounceResult> {
  let frames = 0;
  for (let i = 0; i < options.count; i++) {
    if (i > 0) await sleep(options.intervalMs);
    if (options.signal?.aborted) return { frames, description: 'stopped' };
    frames += await sender.send(options.vip.address);
  }
  return { frames, description: plannedFrames(options.vip, options.count) };
}

async function announceArp(options: AnnounceOptions): Promise<AnnounceResult> {
  const { flavour, command } = options.arping;
  const runs = garpRuns(flavour, options.iface, options.vip, options.count, options.intervalMs);
  const deadline = options.timeoutMs + options.count * options.intervalMs;
  // Requests and replies go out side by side, so the first frame of each leaves at once.
  const results = await Promise.all(
    runs.map((run) => options.exec(command, run.args, deadline, options.signal)),
  );
  if (options.signal?.aborted) return { frames: 0, description: 'stopped' };
  let frames = 0;
  const parts: string[] = [];
  results.forEach((result, i) => {
    const run = runs[i] as ArpingRun;
    const sent = framesSent(flavour, result);
    // Habets' arping exits 1 after an unsolicited send (no replies): the frame count is the truth.
    const isOk = sent !== null ? sent > 0 : result.exitCode === 0;
    if (!isOk || result.timedOut) {
      throw new VipError(
        'announce',
        `arping (${flavour}) could not send gratuitous ARP ${run.kind === 'request' ? 'requests' : 'replies'} for ${options.vip.address} on ${options.iface}: ` +
          `${result.timedOut ? `timed out after ${deadline} ms` : firstLine(result)}` +
          (/permitted|permission/i.test(result.stderr) ? ' (needs CAP_NET_RAW)' : ''),
        { timedOut: result.timedOut },
      );
    }
    frames += sent ?? options.count;
    parts.push(`${sent ?? options.count} ARP ${run.kind === 'request' ? 'requests' : 'replies'}`);
  });
  return { frames, description: parts.join(' + ') };
}

async function announceNa(options: AnnounceOptions): Promise<AnnounceResult> {
  const args = ['-t', 'na', '-U', '-i', options.iface, '-T', options.vip.address, 'send'];
  for (let i = 0; i < options.count; i++) {
    if (i > 0) await sleep(options.intervalMs);
    if (options.signal?.aborted) return { frames: i, description: 'stopped' };
    const result = await options.exec(options.ndptool, args, options.timeoutMs, options.signal);
    if (result.exitCode !== 0) {
      throw new VipError(
        'announce',
        `ndptool could not send an unsolicited neighbour advertisement for ${options.vip.address} on ${options.iface}: ` +
          `${result.timedOut ? `timed out after ${options.timeoutMs} ms` : firstLine(result)}`,
        { timedOut: result.timedOut },
      );
    }
  }
  return { frames: options.count, description: `${options.count} unsolicited NA` };
}
