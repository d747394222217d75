import type { RouteServer } from '../../route/view.js';

/**
 * The members one cluster's HAProxy listeners keep: every member seen (latest address), so a member
 * whose key expired (a killed node) stays in the file as a backup and a failover never waits for a
 * reload; a member gone for longer than the retention is dropped (2,000 renames must not leave 2,002
 * server lines).
 */
export interface Retained {
  /** Current and gone members; a new array only when a member was added, moved or dropped. */
  readonly members: readonly RouteServer[];
  /** Name → epoch ms since which the member is missing from the view. */
  readonly goneSince: ReadonlyMap<string, number>;
}

export const NOTHING_RETAINED: Retained = { members: [], goneSince: new Map() };

/**
 * The next retained state. `current` is the view's member list, or undefined when the view did not
 * change since the previous call (then only expiry is checked). Returns `prev` itself when nothing
 * changed, so callers can compare by identity. Pure: the clock comes in as `now`.
 */
export function retainMembers(
  prev: Retained,
  current: readonly RouteServer[] | undefined,
  now: number,
  retentionMs: number,
): Retained {
  const byName = new Map(prev.members.map((m) => [m.name, m]));
  const goneSince = new Map(prev.goneSince);
  let isListChanged = false;
  let isGoneChanged = false;
  if (current) {
    const present = new Set(current.map((m) => m.name));
    for (const m of current) {
      if (byName.get(m.name) !== m) {
        byName.set(m.name, m);
        isListChanged = true;
      }
      if (goneSince.delete(m.name)) isGoneChanged = true;
    }
    for (const name of byName.keys()) {
      if (present.has(name) || goneSince.has(name)) continue;
      goneSince.set(name, now);
      isGoneChanged = true;
    }
  }
  for (const [name, since] of goneSince) {
    if (now - since < retentionMs) continue;
    goneSince.delete(name);
    byName.delete(name);
    isListChanged = true;
    isGoneChanged = true;
  }
  if (!isListChanged && !isGoneChanged) return prev;
  return { members: isListChanged ? [...byName.values()] : prev.members, goneSince };
}

/** When the first gone member expires (epoch ms), or Infinity. */
export function nextExpiry(retained: Retained, retentionMs: number): number {
  let earliest = Infinity;
  for (const since of retained.goneSince.values()) earliest = Math.min(earliest, since + retentionMs);
  return earliest;
}
