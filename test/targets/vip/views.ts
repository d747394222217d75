import { parseVipAddress, type VipAddress } from '../../../src/targets/vip/config.js';
import type { RouteView } from '../../../src/route/view.js';

/** The route view of scope `app` a VIP target sees: `leader` at 10.0.0.1:5432 (writable unless told), no replicas. */
export function vipView(
  leader: string | null,
  options: { isWritable?: boolean; ttl?: number; isFailsafeMode?: boolean; revision?: number } = {},
): RouteView {
  return {
    scope: 'app',
    generation: 1,
    leader:
      leader === null
        ? null
        : {
            name: leader,
            host: '10.0.0.1',
            port: 5432,
            api: null,
            isWritable: options.isWritable ?? true,
            reason:
              options.isWritable === false ? `leader ${leader} reports role replica, not primary` : null,
            leaderRevision: options.revision ?? 7,
            isLost: false,
            lostReason: null,
          },
    replicas: [],
    members: [],
    ttl: options.ttl ?? 30,
    isFailsafeMode: options.isFailsafeMode ?? false,
  };
}

/** The IPv4 and IPv6 VIPs the unit tests use. */
export const vip4 = parseVipAddress('10.0.0.100/24') as VipAddress;
export const vip6 = parseVipAddress('fd00::100/64') as VipAddress;
