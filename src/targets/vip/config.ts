import { hostname } from 'node:os';
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { ConfigError } from '../../errors.js';

/** `10.0.0.100/24` or `fd00::100/64`, parsed. `address` is canonical (IPv6 compressed, lower case). */
export interface VipAddress {
  readonly family: 4 | 6;
  readonly address: string;
  readonly prefixLength: number;
  /** `address/prefixLength`, as `ip addr` takes it. */
  readonly cidr: string;
}

/** Canonical text of an IP address, so `fd00:0::100` and `fd00::100` compare equal. */
export function canonicalAddress(address: string): string {
  if (isIPv4(address)) return address;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/** Parses `ADDRESS/PREFIX`; returns a message naming what is wrong instead of throwing. */
export function parseVipAddress(text: string): VipAddress | string {
  const match = /^([^/\s]+)\/(\d{1,3})$/.exec(text.trim());
  if (!match)
    return `expected ADDRESS/PREFIX such as 10.0.0.100/24 or fd00::100/64, got ${JSON.stringify(text)}`;
  const [, ip = '', prefixText = ''] = match;
  const prefixLength = Number(prefixText);
  const family = isIPv4(ip) ? 4 : isIPv6(ip) ? 6 : null;
  if (family === null) return `${JSON.stringify(ip)} is not an IPv4 or IPv6 address`;
  const max = family === 4 ? 32 : 128;
  if (prefixLength < 1 || prefixLength > max) {
    return `prefix length of ${text} must be 1–${max} for IPv${family}, got ${prefixLength}`;
  }
  const address = canonicalAddress(ip);
  return { family, address, prefixLength, cidr: `${address}/${prefixLength}` };
}

const addressSchema = z.string().transform((text, ctx): VipAddress => {
  const parsed = parseVipAddress(text);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: parsed });
    return z.NEVER;
  }
  return parsed;
});

const ms = (max: number) => z.number().int().min(0).max(max);

/** The `targets.vip` section of router.yml. Strict: unknown keys are errors. */
export const vipConfigSchema = z
  .object({
    /** The floating address with its prefix length. */
    address: addressSchema,
    /** Network interface that carries the VIP (not loopback: it has no MAC to announce). */
    interface: z
      .string()
      .min(1)
      .max(15)
      .regex(/^[^\s/:]+$/, 'an interface name has no spaces, slashes or colons'),
    /** This host's Patroni member name; the VIP is taken when the leader key names it. */
    member: z.string().min(1).default(hostname()),
    /** IPv4 label (`eth0:vip`), at most 15 characters; ignored for IPv6. */
    label: z.string().min(1).max(15).optional(),
    /** Cluster scope whose leader key is the trigger; may be omitted when the router follows one scope. */
    cluster: z.string().min(1).optional(),
    /** Take the VIP only once the leader accepts writes (member role/state or the router's probe). */
    require_writable: z.boolean().default(false),
    announce: z
      .object({
        /** Frames of each kind sent at once (ARP request + ARP reply, or unsolicited NA). */
        count: z.number().int().min(1).max(50).default(5),
        /** Pause between frames of one burst. */
        interval_ms: ms(1000).default(20),
        /** Frames of each kind in the second burst; 0 = none. */
        repeat_count: z.number().int().min(0).max(50).default(5),
        /** Delay from taking the VIP to the second burst. */
        repeat_delay_ms: ms(60_000).default(5000),
        /**
         * IPv4 frames: `python` = a resident helper with a raw socket (first frame within ~1 ms), `arping` =
         * one arping run per burst (30–80 ms before the first frame), `auto` = python, else arping.
         */
        sender: z.enum(['auto', 'python', 'arping']).default('auto'),
        python_command: z.string().min(1).default('python3'),
      })
      .strict()
      .default({}),
    arping: z
      .object({
        /** `auto` reads `arping --help`/`-V`; `habets` is Debian's `arping`, `iputils` is `iputils-arping`. */
        flavour: z.enum(['auto', 'habets', 'iputils']).default('auto'),
        command: z.string().min(1).default('arping'),
      })
      .strict()
      .default({}),
    ndptool: z
      .object({ command: z.string().min(1).default('ndptool') })
      .strict()
      .default({}),
    ip_command: z.string().min(1).default('ip'),
    /** `ttl`: keep the VIP while leadership could still be valid; `failsafe`: keep while failsafe_mode is on. */
    on_dcs_loss: z.enum(['ttl', 'failsafe']).default('ttl'),
    duplicate_probe: z
      .object({
        enabled: z.boolean().default(false),
        /** `wait`: do not take while another host answers for the VIP (up to `max_wait_ms`); `take`: report and take. */
        on_conflict: z.enum(['wait', 'take']).default('wait'),
        /** How long to wait for an answer to one probe. */
        timeout_ms: z.number().int().min(10).max(5000).default(200),
        /** With `wait`: take anyway after this long (0 = wait as long as the conflict lasts). */
        max_wait_ms: ms(600_000).default(0),
      })
      .strict()
      .default({}),
    handover: z
      .object({
        /**
         * Before adding an IPv4 VIP, send ARP probes (sender 0.0.0.0) and add it only once no other host
         * answers for it: the old holder must have dropped it, even when the leader key was overwritten
         * in one write and both routers act on the same event. Skipped when `duplicate_probe` is on.
         */
        enabled: z.boolean().default(true),
        /** How long one probe waits for an answer. */
        probe_ms: z.number().int().min(2).max(1000).default(10),
        /** Take anyway (with a warning) when another host still answers after this long. */
        max_wait_ms: ms(60_000).default(2000),
      })
      .strict()
      .default({}),
    /**
     * After start, how long to wait for the first view before removing a VIP found on the interface
     * (a restarted router on the leader keeps it; a stale one elsewhere goes as soon as a view says so).
     */
    startup_grace_ms: ms(60_000).default(3000),
    /** How often the address and link are re-checked (external removal is repaired within this). */
    check_interval_ms: z.number().int().min(50).max(10_000).default(250),
    /** Deadline of one `ip`/`arping`/`ndptool` run. */
    command_timeout_ms: z.number().int().min(100).max(60_000).default(3000),
  })
  .strict();

export type VipConfigInput = z.input<typeof vipConfigSchema>;
export type VipConfig = z.output<typeof vipConfigSchema>;

/** Resolves the cluster scope: explicit, or the router's only scope. */
export function vipScope(config: VipConfig, clusters: readonly string[]): string {
  if (config.cluster !== undefined) return config.cluster;
  const only = clusters.length === 1 ? clusters[0] : undefined;
  if (only !== undefined && only !== '*') return only;
  throw new ConfigError('targets.vip.cluster is required when the router follows more than one cluster', [
    `targets.vip.cluster: expected the scope whose leader key moves the VIP, got nothing (router follows ${clusters.join(', ')})`,
  ]);
}
