import { execFileSync } from 'node:child_process';
import type { Logger } from 'pino';
import { describeError } from '../../errors.js';
import type { VipAddress } from './config.js';

/**
 * VIPs a target detached for a config reload (left on the interface for its successor). The next VIP
 * target adopts the one with its own address and interface and releases every other one first; any
 * still here when the process exits (the reload failed before a successor started) are removed by the
 * exit hook. Process-wide on purpose: a reload replaces the target object.
 */
export interface DetachedVip {
  readonly address: VipAddress;
  readonly iface: string;
  /** The `ip` command of the config that added it. */
  readonly ip: string;
}

const detached = new Map<string, DetachedVip>();
const idOf = (v: { address: VipAddress; iface: string }) => `${v.iface} ${v.address.cidr}`;
let hasExitHook = false;

/** Synchronous removal, for `process.on('exit')` where nothing asynchronous runs. */
export type ReleaseSync = (vip: DetachedVip) => void;

export const defaultReleaseSync: ReleaseSync = (vip) => {
  try {
    execFileSync(vip.ip, ['addr', 'del', vip.address.cidr, 'dev', vip.iface], {
      timeout: 1000,
      stdio: 'ignore',
    });
  } catch {
    // absent already, or nothing more can be done while exiting
  }
};

export function rememberDetached(vip: DetachedVip, withExitHook: boolean): void {
  detached.set(idOf(vip), vip);
  if (withExitHook && !hasExitHook) {
    hasExitHook = true;
    process.on('exit', () => releaseDetachedSync());
  }
}

/** Takes the detached VIPs out of the list: the one matching `own` (adopted) apart from the others. */
export function claimDetached(own: { address: VipAddress; iface: string }): {
  adopted: DetachedVip | null;
  others: DetachedVip[];
} {
  const adopted = detached.get(idOf(own)) ?? null;
  const others = [...detached.values()].filter((v) => idOf(v) !== idOf(own));
  detached.clear();
  return { adopted, others };
}

/** Removes every VIP still detached (exit path of a reload that never started a successor). */
export function releaseDetachedSync(release: ReleaseSync = defaultReleaseSync): number {
  const all = [...detached.values()];
  detached.clear();
  for (const vip of all) release(vip);
  return all.length;
}

/** The VIPs detached and not yet adopted (for tests and /status). */
export function detachedVips(): DetachedVip[] {
  return [...detached.values()];
}

/**
 * Removes the detached VIPs a new target does not adopt (a reload changed the address or interface),
 * before that target adds its own. Returns how many were on the interface.
 */
export async function releaseDetached(
  others: readonly DetachedVip[],
  remove: (vip: DetachedVip) => Promise<boolean>,
  log: Logger,
): Promise<number> {
  let removed = 0;
  for (const old of others) {
    const wasThere = await remove(old).catch((err: unknown) => {
      log.warn({ err: describeError(err) }, `could not remove the previous VIP ${old.address.cidr}`);
      return false;
    });
    if (wasThere) removed++;
    log.info(
      `the new config moved the VIP: ${wasThere ? 'removed' : 'did not find'} ${old.address.cidr} on ${old.iface}`,
    );
  }
  return removed;
}
