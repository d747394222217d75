import type { RouteSnapshot } from '../types.js';
import type { VipConfig } from './config.js';
import { decideVip, type Decision } from './policy.js';

/** While not holding, how often the timer looks for a stale copy of the VIP (a take never waits for it). */
export const STALE_CHECK_MS = 2000;

/** What one VIP cycle knows before it touches the host. */
export interface CycleInput {
  readonly trigger: 'apply' | 'check';
  /** Epoch ms. */
  readonly now: number;
  /** When the target started (epoch ms): the startup grace runs from here. */
  readonly startedAt: number;
  readonly scope: string;
  readonly config: Pick<
    VipConfig,
    'address' | 'interface' | 'member' | 'require_writable' | 'on_dcs_loss' | 'startup_grace_ms'
  > & { readonly duplicate_probe: { readonly enabled: boolean } };
  readonly snapshot: RouteSnapshot | null;
  readonly isHeld: boolean;
  readonly heldRevision: number | null;
  /** When a release cycle last made sure the VIP is not on the interface. */
  readonly lastAbsentAt: number;
  /** An earlier check found the interface: a take may use its MAC and type without querying again. */
  readonly isLinkKnown: boolean;
}

/**
 * The first step of a cycle. `wait`: no view yet within the startup grace (learn the link, touch nothing);
 * `idle`: nothing to do (the sentence says why); `release`: remove the VIP; `take`: add it with the link
 * facts already known (no query on the failover's critical path); `inspect`: query the interface, then
 * {@link planFound} or take.
 */
export type CycleStep =
  | { readonly kind: 'wait'; readonly summary: string }
  | { readonly kind: 'idle'; readonly decision: Decision; readonly summary: string }
  | { readonly kind: 'release'; readonly decision: Decision }
  | { readonly kind: 'take'; readonly decision: Decision; readonly revision: number | null }
  | { readonly kind: 'inspect'; readonly decision: Decision; readonly revision: number | null };

/** Decides what a cycle does, from the policy's hold/release and what the target remembers. Pure. */
export function planCycle(input: CycleInput): CycleStep {
  const { config, snapshot, now } = input;
  const vip = config.address;
  if (snapshot === null && now - input.startedAt < config.startup_grace_ms) {
    return {
      kind: 'wait',
      summary: `waiting for the first view of ${input.scope} before touching ${vip.cidr}`,
    };
  }
  const view = snapshot?.views.get(input.scope);
  const decision = decideVip({
    scope: input.scope,
    view,
    dcs: snapshot?.dcs ?? { isConnected: false, lastContactAt: null },
    now,
    member: config.member,
    requireWritable: config.require_writable,
    onDcsLoss: config.on_dcs_loss,
    heldRevision: input.heldRevision,
  });
  if (decision.action === 'release') {
    // Not holding and checked recently: a timer check that runs `ip` on every tick would sit in the
    // queue in front of the next take. A stale copy is still found within STALE_CHECK_MS.
    if (input.trigger === 'check' && !input.isHeld && now - input.lastAbsentAt < STALE_CHECK_MS)
      return { kind: 'idle', decision, summary: `not holding ${vip.cidr}: ${decision.reason}` };
    return { kind: 'release', decision };
  }
  const revision = view?.leader?.leaderRevision ?? null;
  if (!input.isHeld && input.isLinkKnown && !config.duplicate_probe.enabled)
    return { kind: 'take', decision, revision };
  return { kind: 'inspect', decision, revision };
}

/** What a hold cycle found: the VIP is on the interface. */
export interface FoundInput {
  readonly isHeld: boolean;
  /** The link was down at the last check and is up now. */
  readonly linkCameUp: boolean;
  readonly revision: number | null;
  readonly heldRevision: number | null;
  /** The last burst failed and was not repeated yet. */
  readonly needsAnnounce: boolean;
  readonly isAnnouncing: boolean;
  readonly member: string;
  readonly cidr: string;
  readonly iface: string;
}

/** Why the VIP found on the interface must be announced again, or null: it is simply held. Pure. */
export function planFound(f: FoundInput): string | null {
  if (!f.isHeld) return `found ${f.cidr} already on ${f.iface}, kept it`;
  if (f.linkCameUp) return `${f.iface} came back up`;
  if (f.revision !== f.heldRevision) return `new leadership of ${f.member}`;
  if (f.needsAnnounce && !f.isAnnouncing) return 'the last announcement failed';
  return null;
}

/** The sentence of a take, and which counter it adds to. Pure. */
export function describeTake(t: {
  readonly added: boolean;
  readonly wasHeld: boolean;
  readonly cidr: string;
  readonly iface: string;
  readonly frames: string;
  readonly reason: string;
}): { readonly summary: string; readonly counter: 'takes' | 'repairs' | null } {
  const announced = `announced ${t.cidr} on ${t.iface} (${t.frames})`;
  if (!t.added)
    return {
      summary: `found ${t.cidr} already on ${t.iface}, kept it; ${announced}: ${t.reason}`,
      counter: null,
    };
  if (t.wasHeld) {
    const summary = `re-added ${t.cidr} on ${t.iface} after something else removed it, and announced it (${t.frames})`;
    return { summary, counter: 'repairs' };
  }
  return {
    summary: `took ${t.cidr} on ${t.iface} and announced it (${t.frames}): ${t.reason}`,
    counter: 'takes',
  };
}
