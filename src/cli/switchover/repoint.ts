import { SwitchyardError, describeError } from '../../errors.js';
import type { PgBouncerTarget } from '../../targets/pgbouncer/index.js';
import type { ApplyResult, RouteSnapshot } from '../../targets/types.js';
import type { Steps } from './common.js';

/**
 * One repoint attempt. A running router writes the same routing file: while its own probe has not yet
 * seen the new leader writable it may rewrite the file with the old leader between this command's write
 * and its RELOAD, and the verification then finds the old entry (SY_ERR_RELOAD_FAILED, measured once in
 * 16 bench switchovers). That is not a reason to give up and RESUME towards the old primary: it returns
 * null (still paused) and the caller tries again, bounded by its deadline. Other errors propagate.
 */
export async function repoint(
  target: Pick<PgBouncerTarget, 'apply'>,
  snapshot: RouteSnapshot,
  steps: Pick<Steps, 'say'>,
): Promise<ApplyResult | null> {
  try {
    return await target.apply(snapshot);
  } catch (err) {
    if (!(err instanceof SwitchyardError) || err.code !== 'SY_ERR_RELOAD_FAILED') throw err;
    steps.say(`repoint not verified yet, trying again (still paused): ${describeError(err)}`);
    return null;
  }
}
