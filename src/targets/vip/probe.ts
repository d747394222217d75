import type { VipAddress } from './config.js';
import type { ArpingFlavour } from './announce.js';
import { firstLine, VipError, type Exec } from './exec.js';

export interface ProbeOptions {
  readonly exec: Exec;
  readonly command: string;
  readonly flavour: ArpingFlavour;
  readonly iface: string;
  readonly vip: VipAddress;
  readonly timeoutMs: number;
  /** This host's MAC: an answer from it is not a conflict. */
  readonly ownMac: string | null;
}

export interface ProbeResult {
  /** Another host answered ARP for the VIP. */
  readonly isInUse: boolean;
  /** The MAC that answered, when the output names it. */
  readonly otherMac: string | null;
}

/** The arping arguments of one duplicate-address probe (sender 0.0.0.0, so no neighbour learns from it). */
export function probeArgs(
  flavour: ArpingFlavour,
  iface: string,
  vip: VipAddress,
  timeoutMs: number,
): string[] {
  const seconds = (timeoutMs / 1000).toString();
  return flavour === 'habets'
    ? ['-0', '-c', '1', '-w', seconds, '-i', iface, vip.address]
    : ['-D', '-c', '1', '-w', seconds, '-I', iface, vip.address];
}

/** MACs that answered, from arping's output. Pure. */
export function answeringMacs(output: string): string[] {
  return [...output.matchAll(/([0-9a-f]{2}(?::[0-9a-f]{2}){5})/gi)].map((m) =>
    (m[1] as string).toLowerCase(),
  );
}

/**
 * Asks the link whether another host answers ARP for the VIP (IPv4 only). Habets' arping exits 0 when
 * something answered, 1 when nothing did; iputils' `-D` exits 0 when the address is free, 1 when not.
 */
export async function probeDuplicate(options: ProbeOptions): Promise<ProbeResult> {
  if (options.vip.family !== 4) return { isInUse: false, otherMac: null };
  const args = probeArgs(options.flavour, options.iface, options.vip, options.timeoutMs);
  const result = await options.exec(options.command, args, options.timeoutMs + 2000);
  if (result.timedOut || result.exitCode > 1 || result.exitCode < 0) {
    throw new VipError(
      'probe',
      `duplicate probe of ${options.vip.address} on ${options.iface} failed: ${firstLine(result)}`,
      {
        timedOut: result.timedOut,
      },
    );
  }
  const answered = options.flavour === 'habets' ? result.exitCode === 0 : result.exitCode === 1;
  const own = options.ownMac?.toLowerCase() ?? null;
  const others = answeringMacs(result.stdout).filter((mac) => mac !== own && mac !== 'ff:ff:ff:ff:ff:ff');
  if (!answered) return { isInUse: false, otherMac: null };
  if (others.length === 0 && answeringMacs(result.stdout).length > 0)
    return { isInUse: false, otherMac: null };
  return { isInUse: true, otherMac: others[0] ?? null };
}
