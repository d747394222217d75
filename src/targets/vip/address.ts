import { canonicalAddress, type VipAddress } from './config.js';
import { firstLine, VipError, type Exec } from './exec.js';

/** One address as `ip -j addr` reports it. */
export interface InterfaceAddress {
  readonly family: 4 | 6;
  readonly address: string;
  readonly prefixLength: number;
  readonly label: string | null;
  readonly isTentative: boolean;
  readonly isDadFailed: boolean;
}

/** What `ip -j addr show dev IF` says about the VIP's interface. */
export interface InterfaceState {
  readonly exists: boolean;
  /** Administratively up and carrier present (`UP` and `LOWER_UP`). */
  readonly isUp: boolean;
  readonly mac: string | null;
  readonly linkType: string | null;
  readonly addresses: readonly InterfaceAddress[];
}

export interface AddressOptions {
  readonly exec: Exec;
  /** The `ip` program. */
  readonly ip: string;
  readonly iface: string;
  readonly timeoutMs: number;
}

const MISSING: InterfaceState = Object.freeze({
  exists: false,
  isUp: false,
  mac: null,
  linkType: null,
  addresses: [],
});

/** Parses `ip -j addr show dev IF` output. Pure; unknown fields are ignored, malformed JSON throws. */
export function parseInterfaceJson(json: string): InterfaceState {
  const parsed: unknown = JSON.parse(json);
  const link = Array.isArray(parsed) ? (parsed[0] as Record<string, unknown> | undefined) : undefined;
  if (!link) return MISSING;
  const flags = Array.isArray(link['flags']) ? (link['flags'] as unknown[]) : [];
  const infos = Array.isArray(link['addr_info']) ? (link['addr_info'] as Record<string, unknown>[]) : [];
  const addresses: InterfaceAddress[] = [];
  for (const info of infos) {
    const family = info['family'] === 'inet' ? 4 : info['family'] === 'inet6' ? 6 : null;
    if (family === null || typeof info['local'] !== 'string' || typeof info['prefixlen'] !== 'number')
      continue;
    addresses.push({
      family,
      address: canonicalAddress(info['local']),
      prefixLength: info['prefixlen'],
      label: typeof info['label'] === 'string' ? info['label'] : null,
      isTentative: info['tentative'] === true,
      isDadFailed: info['dadfailed'] === true,
    });
  }
  return {
    exists: true,
    isUp: flags.includes('UP') && flags.includes('LOWER_UP'),
    mac: typeof link['address'] === 'string' ? link['address'] : null,
    linkType: typeof link['link_type'] === 'string' ? link['link_type'] : null,
    addresses,
  };
}

/** The VIP on the interface, matched on exact address and prefix length (never a substring). */
export function findVip(state: InterfaceState, vip: VipAddress): InterfaceAddress | null {
  return (
    state.addresses.find(
      (a) => a.family === vip.family && a.address === vip.address && a.prefixLength === vip.prefixLength,
    ) ?? null
  );
}

/** `ip -j addr show dev IF`; an interface that does not exist is a state (`exists: false`), not an error. */
export async function queryInterface(options: AddressOptions): Promise<InterfaceState> {
  const result = await options.exec(
    options.ip,
    ['-j', 'addr', 'show', 'dev', options.iface],
    options.timeoutMs,
  );
  if (result.timedOut) {
    throw new VipError('query', `ip addr show dev ${options.iface} timed out after ${options.timeoutMs} ms`, {
      timedOut: true,
    });
  }
  if (result.exitCode !== 0) {
    if (/does not exist|Cannot find device/i.test(result.stderr)) return MISSING;
    throw new VipError('query', `ip addr show dev ${options.iface} failed: ${firstLine(result)}`);
  }
  try {
    return parseInterfaceJson(result.stdout);
  } catch (err) {
    throw new VipError('query', `ip -j addr show dev ${options.iface} printed no valid JSON`, { cause: err });
  }
}

/** `ip addr add`; "already assigned" counts as success. Returns whether this call added it. */
export async function configureAddress(
  options: AddressOptions,
  vip: VipAddress,
  label: string | undefined,
): Promise<boolean> {
  const args = ['addr', 'add', vip.cidr, 'dev', options.iface];
  if (vip.family === 4 && label !== undefined) args.push('label', label);
  // nodad: usable at once, and never stuck in dadfailed when the old owner still answers during a handover.
  if (vip.family === 6) args.push('nodad');
  const result = await options.exec(options.ip, args, options.timeoutMs);
  if (result.exitCode === 0) return true;
  if (/already assigned|File exists/i.test(result.stderr)) return false;
  const hint = /Operation not permitted/i.test(result.stderr) ? ' (needs CAP_NET_ADMIN)' : '';
  throw new VipError('add', `cannot add ${vip.cidr} to ${options.iface}: ${firstLine(result)}${hint}`, {
    timedOut: result.timedOut,
  });
}

/** `ip addr del`; "not found" and a vanished interface count as success. Returns whether this call removed it. */
export async function deconfigureAddress(options: AddressOptions, vip: VipAddress): Promise<boolean> {
  const result = await options.exec(
    options.ip,
    ['addr', 'del', vip.cidr, 'dev', options.iface],
    options.timeoutMs,
  );
  if (result.exitCode === 0) return true;
  if (/not found|Cannot assign requested address|does not exist|Cannot find device/i.test(result.stderr))
    return false;
  const hint = /Operation not permitted/i.test(result.stderr) ? ' (needs CAP_NET_ADMIN)' : '';
  throw new VipError(
    'remove',
    `cannot remove ${vip.cidr} from ${options.iface}: ${firstLine(result)}${hint}`,
    {
      timedOut: result.timedOut,
    },
  );
}
