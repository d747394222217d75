/**
 * Live PgBouncer settings that undo what the target does (targets.md §3.3, §3.7). Pure: `SHOW CONFIG`
 * rows in, sentences out.
 */
export function riskySettings(
  config: ReadonlyMap<string, string>,
  limits: { ttlSeconds: number | null; maxPauseMs: number },
): string[] {
  const warnings: string[] = [];
  const retry = seconds(config.get('server_login_retry'));
  if (retry !== null && retry > 2) {
    warnings.push(
      `server_login_retry is ${retry} s: after a failed login PgBouncer waits that long before trying the new leader; set it to 1 or 2`,
    );
  }
  const wait = seconds(config.get('query_wait_timeout'));
  if (wait !== null && wait > 0) {
    if (limits.ttlSeconds !== null && wait < limits.ttlSeconds) {
      warnings.push(
        `query_wait_timeout is ${wait} s, shorter than the cluster ttl (${limits.ttlSeconds} s): clients waiting through a failover are disconnected`,
      );
    }
    if (wait * 1000 < limits.maxPauseMs) {
      warnings.push(
        `query_wait_timeout is ${wait} s, shorter than timeouts.max_pause_ms (${limits.maxPauseMs} ms): paused clients may be disconnected before RESUME`,
      );
    }
  }
  return warnings;
}

/** PgBouncer prints times as plain seconds ("15"), some versions with a unit ("15s", "1500ms"). */
export function seconds(value: string | undefined): number | null {
  if (value === undefined) return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min)?\s*$/.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  if (m[2] === 'ms') return n / 1000;
  if (m[2] === 'min') return n * 60;
  return n;
}
