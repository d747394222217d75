import { describeError } from '../../errors.js';
import { PatroniRest, RestError, type SwitchoverBody } from '../../rest/patroni.js';

/** What Patroni answered to a switchover call; never thrown, so the follow loop can keep going. */
export interface RestOutcome {
  status: number | null;
  body: string;
  error: string | null;
  code: string | null;
}

function outcomeOf(err: unknown): RestOutcome {
  if (err instanceof RestError && err.code === 'SY_ERR_REST_STATUS')
    return { status: err.status, body: err.body.slice(0, 300), error: null, code: null };
  return {
    status: null,
    body: '',
    error: describeError(err),
    code: err instanceof RestError ? err.code : null,
  };
}

/** POST /switchover through the one Patroni REST client; bounded by `signal` and `timeoutMs`. */
export async function requestSwitchover(
  rest: PatroniRest,
  apiUrl: string,
  body: SwitchoverBody,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<RestOutcome> {
  try {
    const answer = await rest.switchover(apiUrl, body, { timeoutMs, signal });
    return { status: answer.status, body: answer.body.slice(0, 300), error: null, code: null };
  } catch (err) {
    return outcomeOf(err);
  }
}

/** DELETE /switchover (cancel a scheduled one), bounded by `timeoutMs`. */
export async function cancelSwitchover(
  rest: PatroniRest,
  apiUrl: string,
  timeoutMs: number,
): Promise<RestOutcome> {
  try {
    const answer = await rest.cancelSwitchover(apiUrl, { timeoutMs });
    return { status: answer.status, body: answer.body.slice(0, 300), error: null, code: null };
  } catch (err) {
    return outcomeOf(err);
  }
}
