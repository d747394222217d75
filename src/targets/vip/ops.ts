import type { VipAddress } from './config.js';
import { configureAddress, deconfigureAddress, type AddressOptions } from './address.js';
import { VipError } from './exec.js';
import type { AnnounceSenders } from './senders.js';

const EEXIST = 17;
const EADDRNOTAVAIL = 99;
const ENODEV = 19;
const EPERM = 1;

/**
 * Adds and removes the VIP. IPv4 goes through the resident helper's rtnetlink socket when it runs (no
 * process start on the failover's path: `ip` costs 5–30 ms on a busy 2-core host); otherwise, and for
 * IPv6 (`nodad`), `ip addr add/del`. Same answers either way: whether this call changed anything.
 */
export class AddressOps {
  constructor(
    private readonly options: AddressOptions,
    private readonly senders: AnnounceSenders,
  ) {}

  /** Adds `vip`; false when it was there already. */
  async add(vip: VipAddress, label: string | undefined): Promise<boolean> {
    const raw = vip.family === 4 ? await this.senders.readyRawSender() : null;
    if (!raw) return configureAddress(this.options, vip, label);
    const errno = await raw.address('add', vip.address, vip.prefixLength, label);
    if (errno === 0) return true;
    if (errno === EEXIST) return false;
    throw new VipError(
      'add',
      `cannot add ${vip.cidr} to ${this.options.iface}: rtnetlink errno ${errno}${errno === EPERM ? ' (needs CAP_NET_ADMIN)' : ''}`,
    );
  }

  /** Removes `vip` (from `iface`, default the configured one); false when it was not there. */
  async del(vip: VipAddress, target: { ip?: string; iface?: string } = {}): Promise<boolean> {
    const options = { ...this.options, ...target };
    const raw =
      vip.family === 4 && options.iface === this.options.iface ? await this.senders.readyRawSender() : null;
    if (!raw) return deconfigureAddress(options, vip);
    const errno = await raw.address('del', vip.address, vip.prefixLength);
    if (errno === 0) return true;
    if (errno === EADDRNOTAVAIL || errno === ENODEV) return false;
    throw new VipError(
      'remove',
      `cannot remove ${vip.cidr} from ${options.iface}: rtnetlink errno ${errno}${errno === EPERM ? ' (needs CAP_NET_ADMIN)' : ''}`,
    );
  }
}
