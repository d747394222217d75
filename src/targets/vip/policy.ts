import type { RouteView } from '../../route/view.js';
import type { DcsHealth } from '../types.js';

/** What to do with the VIP when etcd cannot be read. */
export type DcsLossPolicy = 'ttl' | 'failsafe';

/** How the DCS looks to the policy, for /status and metrics. */
export type DcsState =
  'connected' | 'never-read' | 'unreachable-within-ttl' | 'unreachable-failsafe' | 'unreachable-expired';

export interface PolicyInput {
  readonly scope: string;
  /** This cluster's latest view; undefined when the router has none for it. */
  readonly view: RouteView | undefined;
  readonly dcs: DcsHealth;
  /** Epoch ms. */
  readonly now: number;
  readonly member: string;
  readonly requireWritable: boolean;
  readonly onDcsLoss: DcsLossPolicy;
  /** Leader-key revision under which this target took the VIP; null when it does not hold it. */
  readonly heldRevision: number | null;
}

export interface Decision {
  readonly action: 'hold' | 'release';
  /** One sentence: why. */
  readonly reason: string;
  readonly dcsState: DcsState;
  /** Epoch ms at which the same input would decide differently by the clock alone (ttl expiry); else null. */
  readonly recheckAt: number | null;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * Hold or release the VIP. Pure: no I/O, time is an argument. Holds only while the latest view says the
 * leader key names this member (and, with `requireWritable`, once that leader accepts writes; a VIP
 * already taken under the same leadership is kept if the member key later wavers). When etcd is
 * unreachable, the last view is trusted only as the policy allows: `ttl` while leadership could still
 * be valid (the cluster's ttl since the last successful read), `failsafe` while failsafe_mode is on.
 */
export function decideVip(input: PolicyInput): Decision {
  const { dcs, view, member, now } = input;
  const isConnected = dcs.isConnected;
  const dcsState: DcsState = isConnected
    ? 'connected'
    : dcs.lastContactAt === null
      ? 'never-read'
      : 'unreachable-within-ttl';
  const release = (reason: string, state: DcsState = dcsState): Decision => ({
    action: 'release',
    reason,
    dcsState: state,
    recheckAt: null,
  });

  if (!isConnected && dcs.lastContactAt === null) return release('etcd has not been read yet');
  if (!view) return release(`cluster ${input.scope} has no keys in etcd`);
  const leader = view.leader;
  if (!leader)
    return release(`cluster ${input.scope} has no leader (no leader key, or its holder has no member key)`);
  if (leader.name !== member)
    return release(`the leader key of ${input.scope} names ${leader.name}, not ${member}`);
  if (input.requireWritable && !leader.isWritable && input.heldRevision !== leader.leaderRevision) {
    return release(`waiting for ${member} to accept writes: ${leader.reason ?? 'not writable yet'}`);
  }

  if (!isConnected) {
    const lastContactAt = dcs.lastContactAt as number;
    const elapsed = now - lastContactAt;
    if (input.onDcsLoss === 'failsafe' && view.isFailsafeMode) {
      return {
        action: 'hold',
        reason: `etcd unreachable for ${seconds(elapsed)}; keeping the VIP because failsafe_mode is on`,
        dcsState: 'unreachable-failsafe',
        recheckAt: null,
      };
    }
    const ttlMs = view.ttl * 1000;
    const note = input.onDcsLoss === 'failsafe' ? ' (failsafe_mode is off)' : '';
    if (elapsed < ttlMs) {
      return {
        action: 'hold',
        reason: `etcd unreachable for ${seconds(elapsed)}; keeping the VIP while leadership can still be valid (ttl ${view.ttl} s)${note}`,
        dcsState: 'unreachable-within-ttl',
        recheckAt: lastContactAt + ttlMs,
      };
    }
    return release(
      `etcd unreachable for ${seconds(elapsed)}, longer than the cluster's ttl (${view.ttl} s): leadership may have moved${note}`,
      'unreachable-expired',
    );
  }
  return {
    action: 'hold',
    reason: `the leader key of ${input.scope} names ${member}`,
    dcsState,
    recheckAt: null,
  };
}
