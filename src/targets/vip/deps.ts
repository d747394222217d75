import { execProgram, type Exec } from './exec.js';
import type { ReleaseSync } from './orphans.js';
import { RawArpSender } from './rawsender.js';
import type { CreateRawSender } from './senders.js';

/** What the VIP target needs from the outside world; tests replace `exec` and turn the exit hook off. */
export interface VipDeps {
  readonly exec: Exec;
  /** Makes the resident IPv4 ARP sender (a real raw socket); tests return null so nothing leaves the host. */
  readonly createRawSender: CreateRawSender;
  /** Remove the VIP synchronously in `process.on('exit')` if `close()` was never reached. */
  readonly hasExitHook: boolean;
  /** The exit hook's synchronous removal; tests record it instead. */
  readonly releaseSync?: ReleaseSync;
}

/** The real world: programs run for real, a resident raw-socket helper, the exit hook on. */
export function defaultVipDeps(): VipDeps {
  return {
    exec: execProgram,
    hasExitHook: true,
    createRawSender: (iface, python, timeoutMs) => new RawArpSender(iface, python, timeoutMs),
  };
}
