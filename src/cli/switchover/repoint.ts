import { SwitchyardError, describeError } from '../../errors.js';
import type { RouteView } from '../../route/view.js';
import type { ApplyResult, RouteSnapshot } from '../../targets/types.js';
import type { Steps } from './common.js';

/**
 * One repoint attempt. A running router writes the same routing file: while its own probe has not yet
 * seen the new leader writable it may rewrite the file with the old leader between this command's write
 * and its RELOAD, and the verification then finds the old entry (SY_ERR_RELOAD_FAILED, measured once in
 * 16 bench switchovers). That is not a reason to give up and RESUME towards the old primary: it returns
 * null (still paused) and the caller tries again, bounded by its deadline. Other errors propagate.
 * `route` is the target's `apply` (repoint and resume what it took over) or `routeWhilePaused`.
 */
export async function repoint(
  route: (snapshot: RouteSnapshot) => Promise<ApplyResult>,
  snapshot: RouteSnapshot,
  steps: Pick<Steps, 'say'>,
): Promise<ApplyResult | null> {
  try {
    return await route(snapshot);
  } catch (err) {
    if (!(err instanceof SwitchyardError) || err.code !== 'SY_ERR_RELOAD_FAILED') throw err;
    steps.say(`repoint not verified yet, trying again (still paused): ${describeError(err)}`);
    return null;
  }
}

/**
 * The snapshot as it will be once `member` (default: `cluster`'s key holder) holds the key and is writable:
 * only for routing PgBouncer's paused databases ahead of time (`PgBouncerTarget.routeWhilePaused`), so
 * that RESUME is all that is left when it is proven writable. Null when there is no such member.
 */
export function presumeWritable(
  snapshot: RouteSnapshot,
  cluster: string,
  member?: string,
): RouteSnapshot | null {
  const view = snapshot.views.get(cluster);
  const server =
    member === undefined || member === view?.leader?.name
      ? view?.leader
      : view?.members.find((m) => m.name === member);
  if (!view || !server) return null;
  const presumed: RouteView = {
    ...view,
    leader: {
      ...server,
      leaderRevision: view.leader?.leaderRevision ?? 0,
      isWritable: true,
      reason: null,
      isLost: false,
      lostReason: null,
    },
  };
  const views = new Map(snapshot.views);
  views.set(cluster, presumed);
  return { ...snapshot, views };
}
